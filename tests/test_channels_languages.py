"""Separate channels, every segment's language and loop warnings (issue #15, items 7-9) in the fast
layer: the pure logic on segments, and whole jobs performed with the fake recognizer on real audio.
The same with real models and generated speech: tests/test_speech_switches.py (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA
from fakes import FakeRecognizer, fake_segments
from media_tools import ffmpeg

from runner.core.options import JobOptions, OptionsError
from runner.core.transcript import Segment, Transcript, Turn, Word, read_transcript
from runner.daemon.media import SAMPLE_RATE, decode
from runner.output.channels import channel_index, channel_label, labelled, merge_by_time, with_channel_turns
from runner.output.relabel import rename_speakers
from runner.output.repetition import COMPRESSION_RATIO_THRESHOLD, compression_ratio, loop_spans, mark_repetitions
from runner.output.speakers import assign_speakers


def document(job) -> dict:
    """The job's JSON output, parsed."""
    return json.loads(Path(next(p for p in job.outputs if p.endswith(".json"))).read_text())


@pytest.fixture
def call(tmp_path: Path) -> Path:
    """8 s of 44.1 kHz stereo: a tone on the left in the first 3.5 s, another on the right in the last 3.5 s."""
    path = tmp_path / "call.wav"
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=if(lt(t\\,3.5)\\,0.5*sin(2*PI*440*t)\\,0)|"
           "if(gte(t\\,4.5)\\,0.5*sin(2*PI*660*t)\\,0):s=44100:d=8", str(path))
    return path


def seg(start: float, end: float, text: str, speaker: str | None = None) -> Segment:
    return Segment(start, end, text, (Word(start, end, f" {text}", 0.9),), speaker)


# -- options ------------------------------------------------------------------------------------------

def test_channels_and_multi_are_options_of_every_way_in():
    assert JobOptions.from_mapping({"channels": "separate", "language": "MULTI"}) == \
        JobOptions(channels="separate", language="multi")
    assert JobOptions.from_mapping({}).channels == "mix"
    with pytest.raises(OptionsError, match="channels must be one of mix, separate"):
        JobOptions.from_mapping({"channels": "left"})
    with pytest.raises(OptionsError, match="not both"):
        JobOptions.from_mapping({"channels": "separate", "diarize": "yes"})
    with pytest.raises(OptionsError, match="'multi'"):
        JobOptions.from_mapping({"language": "many"})


def test_the_upload_form_takes_channels_and_the_page_shows_it(client, upload, app):
    response = upload(DATA / "jfk.flac", channels="separate", language="multi")
    assert response.status_code == 201, response.get_data(as_text=True)
    job = app.store.get(response.get_json()["id"])
    assert job.options["channels"] == "separate" and job.options["language"] == "multi"
    assert "channels separate" in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'value="separate"' in client.get("/upload").get_data(as_text=True)


# -- decoding each channel ----------------------------------------------------------------------------

def test_decoding_keeps_each_channel_at_16_khz(call):
    audio = decode(call, keep_channels=True)
    assert audio.channels is not None and audio.channels.shape == (2, audio.samples.size)
    assert audio.channels.dtype == np.float32 and abs(audio.duration - 8.0) < 0.05
    left, right = audio.channels
    quiet, loud = slice(int(3.6 * SAMPLE_RATE), None), slice(0, int(3.4 * SAMPLE_RATE))
    assert np.abs(left[loud]).max() > 0.4 and np.abs(left[quiet]).max() < 1e-3
    assert np.abs(right[loud]).max() < 1e-3 and np.abs(right[int(4.6 * SAMPLE_RATE):]).max() > 0.4
    assert decode(call).channels is None


# -- merging channels by time -------------------------------------------------------------------------

def test_channels_merge_by_time_each_a_speaker_with_a_turn_per_segment():
    left = [seg(0.0, 2.0, "a"), seg(5.0, 6.0, "c")]
    right = [seg(1.0, 3.0, "b"), seg(5.0, 5.5, "d")]
    merged = list(merge_by_time([labelled(left, channel_label(0)), labelled(right, channel_label(1))]))
    assert [(s.text, s.speaker) for s in merged] == [("a", "channel 1"), ("b", "channel 2"), ("d", "channel 2"),
                                                     ("c", "channel 1")]
    assert all(word.speaker == segment.speaker for segment in merged for word in segment.words)
    whole = with_channel_turns(Transcript("en", 0.9, 6.0, tuple(merged)))
    assert [(t.start, t.end, t.speaker) for t in whole.turns] == [
        (0.0, 2.0, "channel 1"), (1.0, 3.0, "channel 2"), (5.0, 5.5, "channel 2"), (5.0, 6.0, "channel 1")]
    assert channel_index("channel 12") == 11 and channel_index("SPEAKER_00") is None


def test_separate_channels_are_speakers_in_every_output_and_renamable(app, submit, perform, call, client):
    job_id = submit(call, channels="separate").id
    assert perform(job_id, engine=FakeRecognizer(speech_only=True)) == "succeeded"
    job = app.store.get(job_id)
    data = document(job)
    assert data["speakers"] == ["channel 1", "channel 2"]
    assert [(s["start"], s["speaker"]) for s in data["segments"]] == [
        (0.0, "channel 1"), (2.0, "channel 1"), (4.0, "channel 2"), (6.0, "channel 2")]
    assert job.progress == 1.0 and job.processed_seconds == pytest.approx(8.0, abs=0.05)
    outputs = {Path(p).suffix: Path(p) for p in job.outputs}
    assert set(outputs) == {".txt", ".srt", ".vtt", ".json", ".rttm"}
    assert "<v channel 2>" in outputs[".vtt"].read_text() and "[channel 1]" in outputs[".txt"].read_text()

    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="rename-speakers"' in page and 'value="channel 2"' in page  # renamable on the page too
    assert rename_speakers(job.outputs, {"channel 1": "Ann", "channel 2": "Bob"}) == {
        "channel 1": "Ann", "channel 2": "Bob"}
    transcript, _meta = read_transcript(outputs[".json"])
    assert [s.speaker for s in transcript.segments] == ["Ann", "Ann", "Bob", "Bob"]
    assert "Bob" in outputs[".rttm"].read_text() and "[Ann]" in outputs[".srt"].read_text()


def test_diarization_splitting_a_segment_keeps_its_language_and_mark():
    words = (Word(0.0, 0.5, " Ja", 0.9), Word(0.6, 1.0, " nein", 0.9))
    segment = Segment(0.0, 1.0, "Ja nein", words, language="de", repetition=True)
    split = assign_speakers(Transcript("de", 0.9, 1.0, (segment,)), [Turn(0.0, 0.55, "A"), Turn(0.55, 1.0, "B")])
    assert [(s.text, s.speaker, s.language, s.repetition) for s in split.segments] == [
        ("Ja", "SPEAKER_00", "de", True), ("nein", "SPEAKER_01", "de", True)]


def test_a_resumed_separate_job_continues_each_channel_where_it_stopped(app, submit, perform, call):
    job_id = submit(call, channels="separate").id
    asked = []

    def stop_after_three() -> bool:
        asked.append(1)
        return len(asked) >= 3

    first = FakeRecognizer()
    assert perform(job_id, engine=first, stop_requested=stop_after_three) == "handed back"
    kept = app.store.segments(job_id)
    assert [(s.start, s.speaker) for s in kept] == [(0.0, "channel 1"), (0.0, "channel 2"), (2.0, "channel 1")]
    assert app.store.get(job_id).progress == pytest.approx(0.5)  # 4 s of 8: the recording's time, not 2 x 8 s
    second = FakeRecognizer()
    assert perform(job_id, engine=second) == "succeeded"
    assert [call.start for call in second.calls] == [4.0, 2.0]  # each channel after its own last segment
    segments = document(app.store.get(job_id))["segments"]
    expected = sorted((s.start, f"channel {n}") for n in (1, 2) for s in fake_segments(8.0))
    assert [(s["start"], s["speaker"]) for s in segments] == expected  # no gap, nothing twice


@pytest.mark.parametrize(("name", "says"), [("sample.wav", "has one channel"),
                                           ("jfk.flac", "every channel holds the same sound")])
def test_separate_on_a_mono_or_dual_mono_file_transcribes_it_once_and_says_so(app, submit, perform, name, says):
    job_id = submit(DATA / name, channels="separate").id  # jfk.flac is stereo, the same sound twice
    engine = FakeRecognizer()
    assert perform(job_id, engine=engine) == "succeeded"
    job = app.store.get(job_id)
    assert any(says in warning for warning in job.warnings), job.warnings
    assert len(engine.calls) == 1
    assert "speakers" not in document(job) and "speaker" not in document(job)["segments"][0]


# -- every segment's language --------------------------------------------------------------------------

def test_multi_gives_every_segment_its_language_in_json_the_checkpoint_and_the_page(app, submit, perform, client):
    job_id = submit(DATA / "jfk.flac", language="multi").id
    assert perform(job_id, engine=FakeRecognizer(segment_languages=("en", "en", "de"))) == "succeeded"
    job = app.store.get(job_id)
    languages = [s.get("language") for s in document(job)["segments"]]
    assert languages == ["en", "en", "de", "en", "en", "de"]
    assert [s.language for s in app.store.segments(job_id)] == languages
    assert job.language == "en"
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert page.count('<span class="lang" lang="en">de</span>') == 2
    plain = submit(DATA / "jfk.flac").id
    assert perform(plain) == "succeeded"
    assert "language" not in document(app.store.get(plain))["segments"][0]


# -- loops ----------------------------------------------------------------------------------------------

def test_three_same_texts_in_a_row_of_one_speaker_are_a_loop():
    texts = ["Hello there.", "Thank you.", "thank you", "Thank  you!", "Bye."]
    assert loop_spans([seg(i, i + 1, text) for i, text in enumerate(texts)]) == [(1, 3)]
    assert loop_spans([seg(i, i + 1, text) for i, text in enumerate(texts[:3])]) == []  # twice is not a loop
    # separate channels interleave: a run counts one speaker's segments
    mixed = [seg(0, 1, "Yes.", "channel 1"), seg(0.5, 1, "Okay.", "channel 2"), seg(1, 2, "Yes.", "channel 1"),
             seg(2, 3, "Yes.", "channel 1")]
    assert loop_spans(mixed) == [(0, 0), (2, 3)]
    marked, warning = mark_repetitions(Transcript("en", 0.9, 3.0, tuple(mixed)))
    assert [s.repetition for s in marked.segments] == [True, False, True, True]
    assert warning is not None and warning.startswith("possible repetition at 0:00–0:03:")  # one stretch
    assert loop_spans([seg(0, 1, ""), seg(1, 2, ""), seg(2, 3, "")]) == []


def test_a_phrase_said_three_times_in_a_row_inside_or_across_segments_is_a_loop():
    inside = "Turn left at the door, turn left at the door. Turn left at the door!"
    assert loop_spans([seg(0, 1, "Fine."), seg(1, 9, inside), seg(9, 10, "Done.")]) == [(1, 1)]
    across = [seg(0, 1, "So thank you"), seg(1, 2, "thank you. Thank"), seg(2, 3, "you."), seg(3, 4, "Next.")]
    assert loop_spans(across) == [(0, 2)]
    assert loop_spans([seg(0, 3, "No, no, no, no, no, no.")]) == []  # one word is not a phrase
    assert loop_spans([seg(0, 3, "A b c a b c a b.")]) == []  # not three times


def test_a_segment_that_compresses_too_well_is_a_loop_and_the_warning_names_the_times():
    looped = "I will go there. " * 12
    assert compression_ratio(looped) > COMPRESSION_RATIO_THRESHOLD > compression_ratio("I will go there today.")
    transcript = Transcript("en", 0.9, 6000.0, (seg(4990.0, 4990.5, "Fine."), seg(4990.5, 5045.0, looped),
                                                seg(5046.0, 5047.0, "Then?")))
    marked, warning = mark_repetitions(transcript)
    assert [s.repetition for s in marked.segments] == [False, True, False]
    assert warning is not None and warning.startswith("possible repetition at 1:23:10–1:24:05:")
    assert mark_repetitions(Transcript("en", 0.9, 3.0, (seg(0, 1, "One."),))) [1] is None


def test_a_job_that_loops_gets_the_warning_and_marked_segments(app, submit, perform):
    job_id = submit(DATA / "jfk.flac").id
    assert perform(job_id, engine=FakeRecognizer(text="Thank you.")) == "succeeded"
    job = app.store.get(job_id)
    assert "possible repetition at 0:00–0:11: the model may have written the same words over and over " \
           "(a decoding loop); check the recording there" in job.warnings
    assert all(s["repetition"] is True for s in document(job)["segments"])
    assert Segment.from_dict(document(job)["segments"][0]).repetition
