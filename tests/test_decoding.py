"""Decoding hears the file as it is (issue #15): the waveform faster-whisper's own ``decode_audio``
gives, every link and rate of a file, every channel, the track asked for, on the video's timeline,
and warnings only for what is really wrong. In process, real media made by tests/hard_media.py,
no model."""

from __future__ import annotations

import json
from pathlib import Path

import hard_media
import numpy as np
import pytest
import srt
from faster_whisper import decode_audio
from hard_media import LATE, SPEECH_CHANNEL, hard_media_dir  # noqa: F401 (the fixture "hard")
from media_tools import ffmpeg

from runner.daemon.media import MIX_WARNING, MediaError, decode, stream_languages
from webui.jobfiles import transcript_lines

DATA = Path(__file__).parent / "data"


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


@pytest.mark.parametrize("name", ["jfk.flac", "sample.wav", "stereo.flac", "two_voices.wav", "surround.wav",
                                  "one_voice.wav", "ape.mp3", "late.mkv"])
def test_the_waveform_is_faster_whispers_own(hard, name):
    """Mono, stereo (with and without a channel mask), 5.1, MP3, AAC in MKV: within 1e-3 of
    ``faster_whisper.decode_audio`` (here: equal), sample for sample."""
    path = DATA / name if (DATA / name).exists() else hard / name
    ours, reference = decode(path).samples, decode_audio(str(path))
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1e-3


def test_stereo_is_the_mean_of_its_channels_not_louder(hard):
    audio = decode(hard / "stereo.flac", keep_channels=True)
    assert audio.channels is not None and audio.channels.shape == (2, audio.samples.size)
    assert np.abs(audio.channels.mean(axis=0) - audio.samples).max() <= 1e-3  # not x 1.41 (FFmpeg's float mix)
    assert decode(hard / "stereo.flac").channels is None
    mono = decode(DATA / "sample.wav", keep_channels=True)  # 16 kHz 16-bit mono: the mix needs no conversion
    assert mono.channels is not None and mono.channels.shape == (1, mono.samples.size)
    assert np.abs(mono.channels[0] - mono.samples).max() <= 1e-3


def test_the_default_track_else_the_one_asked_for(hard):
    path = hard / "two_tracks.mkv"
    main, commentary = decode(hard / "main.wav").samples, decode(hard / "commentary.wav").samples
    default = decode(path)
    assert default.track is not None and (default.track.number, default.track.language) == (2, "eng")
    assert default.tracks == 2 and default.track.title == "Main"
    assert np.array_equal(default.samples, main)  # FLAC in MKV: the same samples as the WAV it was made of
    assert default.warnings == ('this file has 2 audio tracks; track 2 (eng, "Main") was transcribed (the default); '
                                "choose another with the audio_track option",)
    for asked in (1, "ger", "de", "deu", "GER"):
        audio = decode(path, track=asked)
        assert audio.track is not None and audio.track.number == 1 and np.array_equal(audio.samples, commentary)
        assert 'track 1 (ger, "Commentary") was transcribed (asked for)' in audio.warnings[0]
    assert np.array_equal(decode(path, track="en").samples, main)
    with pytest.raises(MediaError, match=r'audio track 3 was asked for, but this file has 2 audio track\(s\): '
                                         r'track 1 \(ger, "Commentary"\); track 2 \(eng, "Main"\)'):
        decode(path, track=3)
    with pytest.raises(MediaError, match="no audio track in language 'fr'"):
        decode(path, track="fr")
    assert stream_languages(path).audio == "eng" and stream_languages(path, 1).audio == "ger"
    assert decode(hard / "main.wav").warnings == () and decode(hard / "main.wav").tracks == 1


def test_a_sample_rate_change_mid_file_decodes_completely(hard):
    """44.1 kHz, then 48 kHz (two MP3 files joined, the second's ID3 tag between them): all of both."""
    audio = decode(hard / "rate_change.mp3")
    first, second = decode(hard / "part1.mp3"), decode(hard / "part2.mp3")
    assert audio.warnings == ()
    assert audio.duration == pytest.approx(first.duration + second.duration, abs=0.1)
    tail = audio.samples[-second.samples.size:]
    assert rms(tail) == pytest.approx(rms(second.samples), rel=0.05)
    assert decode_audio(str(hard / "rate_change.mp3")).size < 0.6 * audio.samples.size  # it stops at the tag


def test_every_link_of_a_chained_ogg_is_decoded(hard):
    """A mono 22.05 kHz link, then a stereo 44.1 kHz one (FFmpeg's demuxer stops there)."""
    audio = decode(hard / "chained.ogg")
    first, second = decode(hard / "link1.ogg"), decode(hard / "link2.ogg")
    assert audio.warnings == ()
    assert audio.samples.size == first.samples.size + second.samples.size
    assert np.abs(audio.samples[first.samples.size:] - second.samples).max() <= 1e-3
    assert np.abs(audio.samples[: first.samples.size] - first.samples).max() <= 1e-3


def test_a_large_tag_after_the_audio_is_no_truncation(hard):
    """2 MB of APEv2 cover art make FFmpeg estimate over 100 s from bytes / bit rate: no warning."""
    audio = decode(hard / "ape.mp3")
    assert audio.warnings == ()
    assert audio.duration == pytest.approx(decode(hard / "plain.mp3").duration)


def test_real_truncation_still_warns(hard, tmp_path):
    """A FLAC file cut in half (its STREAMINFO declares it all) and an MP3 cut in half (its Xing
    header does). (A cut WAV is not told: FFmpeg's demuxer clamps its data size to the file's.)"""
    ffmpeg("-i", str(hard / "main.wav"), str(tmp_path / "main.flac"))
    for name in (tmp_path / "main.flac", hard / "part1.mp3"):
        whole = name.read_bytes()
        cut = tmp_path / f"cut-{name.name}"
        cut.write_bytes(whole[: len(whole) // 2])
        full = decode(name)
        audio = decode(cut)
        assert full.warnings == ()
        assert len(audio.warnings) == 1 and audio.warnings[0].startswith(
            f"the file seems cut off: only {audio.duration:.1f} s of its ")
        assert audio.duration < 0.6 * full.duration


@pytest.mark.parametrize(("name", "count", "channel"), [("three.wav", 3, 2), ("six.wav", 6, SPEECH_CHANNEL),
                                                         ("sixty.wav", 60, 41)])
def test_channels_of_an_unknown_layout_count_equally(hard, name, count, channel):
    """No layout in the file: every channel weighs 1/c, the one with speech too (FFmpeg's guess of
    5.1 for six channels drops track 4 as LFE; above 64 channels it cannot mix at all)."""
    speech = decode(hard / "main.wav").samples
    audio = decode(hard / name, keep_channels=True)
    assert audio.warnings == ()
    assert audio.channels is not None and audio.channels.shape == (count, speech.size)
    assert np.abs(audio.channels[channel] - speech).max() <= 1e-3
    assert np.abs(audio.channels.mean(axis=0) - audio.samples).max() <= 1e-6
    assert rms(audio.samples) == pytest.approx(rms(speech) / count, rel=0.05)
    assert np.corrcoef(audio.samples, speech)[0, 1] > 0.95
    assert np.array_equal(decode(hard / name).samples, audio.samples)


def test_more_channels_than_ffmpeg_can_mix_fail_clearly(tmp_path):
    path = hard_media.write_channels(tmp_path / "many.wav", np.zeros((65, 22050), np.int16), 22050)
    with pytest.raises(MediaError, match=r"^could not decode audio: its 65 channels are more than FFmpeg can mix "
                                         r"\(at most 64\); export the channels with speech"):
        decode(path)


def test_audio_that_starts_after_the_video_has_its_offset(hard):
    late = decode(hard / "late.mkv")
    assert late.offset == pytest.approx(LATE, abs=0.05)  # AAC's priming samples start 46 ms before it
    assert decode(hard / "two_tracks.mkv").offset == 0.0
    assert decode(hard / "main.wav").offset == 0.0 and decode(hard / "part1.mp3").offset == 0.0


def test_a_call_with_one_voice_a_channel_suggests_separate(hard):
    assert MIX_WARNING in decode(hard / "two_voices.wav").warnings
    assert MIX_WARNING in decode(hard / "stereo.flac").warnings
    assert "channels = separate" in MIX_WARNING
    assert decode(hard / "two_voices.wav", keep_channels=True).warnings == ()  # transcribed separately
    for name in ("one_voice.wav", "six.wav", "main.wav", "rate_change.mp3", "surround.wav"):  # 5.1: by design
        assert MIX_WARNING not in decode(hard / name).warnings, name


def test_a_job_records_its_track_and_writes_on_the_videos_timeline(hard, app, submit, perform):
    """The fake recognizer's segments start at 0 s of the audio; every output starts them 2.5 s in."""
    job = submit(hard / "late.mkv", formats=("srt", "json"))
    assert perform(job.id) == "succeeded"
    row = app.store.get(job.id)
    assert row.audio == {"number": 1, "language": None, "title": None, "tracks": 1,
                         "offset": pytest.approx(LATE, abs=0.05)}
    files = {Path(p).suffix: Path(p) for p in row.outputs}
    cues = list(srt.parse(files[".srt"].read_text()))
    document = json.loads(files[".json"].read_text())
    offset = row.audio["offset"]
    assert cues[0].start.total_seconds() == pytest.approx(offset, abs=0.001)
    assert document["segments"][0]["start"] == pytest.approx(offset, abs=0.001)
    assert document["segments"][0]["words"][0]["start"] >= offset
    assert app.store.segments(job.id)[0].start == 0.0  # the checkpoint stays on the audio's timeline
    chosen = submit(hard / "two_tracks.mkv", audio_track="ger", formats=("txt",))
    assert perform(chosen.id) == "succeeded"
    row = app.store.get(chosen.id)
    assert row.audio == {"number": 1, "language": "ger", "title": "Commentary", "tracks": 2, "offset": 0.0}
    assert any("track 1 (ger" in warning for warning in row.warnings)
    missing = submit(hard / "two_tracks.mkv", audio_track=5)
    assert perform(missing.id) == "failed"
    assert app.store.get(missing.id).error.startswith("audio track 5 was asked for, but this file has 2")


def test_the_job_page_shows_the_track_and_the_offset(hard, app, submit, perform, client):
    assert 'name="audio_track"' in client.get("/upload").get_data(as_text=True)
    job = submit(hard / "two_tracks.mkv", formats=("txt",))
    assert perform(job.id) == "succeeded"
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "track 2 of 2" in page and "eng" in page and "“Main”" in page
    assert "this file has 2 audio tracks" in page
    late = submit(hard / "late.mkv", formats=("txt",))
    assert perform(late.id) == "succeeded"
    page = client.get(f"/jobs/{late.id}").get_data(as_text=True)
    assert "s into the video (cue times shifted)" in page and "track 1 of" not in page
    row = app.store.get(late.id)  # no json output: the page's lines come from the checkpoint, shifted too
    assert transcript_lines(row, app.store)[0].start == pytest.approx(row.audio["offset"])
