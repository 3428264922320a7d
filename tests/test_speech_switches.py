"""Speech that one mono pass mishears (issue #15, items 7-9), with real models on generated media:
a stereo call with one voice per channel talking over each other, English then German, a long
silence before the speech, and a phrase said over and over."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from media_tools import ffmpeg, speak

from runner.core.transcript import clock

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml

LEFT = "The harbour budget was approved on Monday by the council."
LEFT_KEYS = {"harbour", "budget", "approved", "monday", "council"}
RIGHT = "Please remember to water the tomatoes and feed the cat this evening."
RIGHT_KEYS = {"remember", "water", "tomatoes", "feed", "evening"}
ENGLISH = "The weather is lovely today and we are going to the market to buy some fresh bread."
ENGLISH_KEYS = {"today", "going", "market", "buy", "fresh", "bread"}
GERMAN = "Guten Morgen, ich möchte heute Abend ein Buch über die Geschichte der Stadt lesen."
LOOP = "Turn left at the red door."


def _document(job) -> dict:
    return json.loads(Path(next(p for p in job.outputs if p.endswith(".json"))).read_text())


def _words(text: str) -> set[str]:
    return {word.strip(".,!?;:'\"").lower() for word in text.split()}


def _key_words(segments: list[dict], keys: set[str]) -> set[str]:
    return keys & _words(" ".join(segment["text"] for segment in segments))


def test_separate_channels_recover_both_voices_of_a_stereo_call(cli, app, tmp_path):
    """Two espeak-ng voices, one per channel, speaking at the same time: ``--channels separate``
    hears both sides' key words, each as its own speaker; the mono mix of the same file hears fewer."""
    left = speak(LEFT, tmp_path / "left.wav", "en-us")
    right = speak(RIGHT, tmp_path / "right.wav", "en+f3", words_per_minute=165)
    call = tmp_path / "call.wav"
    ffmpeg("-i", str(left), "-i", str(right), "-filter_complex", "[0][1]amerge=inputs=2", "-ac", "2", str(call))
    separate = cli("submit", "--channels", "separate", str(call)).stdout.strip()
    mixed = cli("submit", str(call)).stdout.strip()
    assert cli("runner", "--burst").returncode == 0
    job = app.store.get(separate)
    assert job.status == "succeeded", job.error
    document = _document(job)
    assert document["speakers"] == ["channel 1", "channel 2"]
    by_channel = {speaker: [s for s in document["segments"] if s["speaker"] == speaker]
                  for speaker in document["speakers"]}
    assert len(_key_words(by_channel["channel 1"], LEFT_KEYS)) >= 4, by_channel["channel 1"]
    assert len(_key_words(by_channel["channel 2"], RIGHT_KEYS)) >= 4, by_channel["channel 2"]
    starts = [segment["start"] for segment in document["segments"]]
    assert starts == sorted(starts) and starts[0] < 1.0  # merged by time: both sides start at once
    assert "[channel 1]" in Path(next(p for p in job.outputs if p.endswith(".srt"))).read_text()
    assert any(p.endswith(".rttm") for p in job.outputs)
    mix = _document(app.store.get(mixed))
    heard_in_mix = len(_key_words(mix["segments"], LEFT_KEYS | RIGHT_KEYS))
    heard_apart = len(_key_words(document["segments"], LEFT_KEYS | RIGHT_KEYS))
    assert heard_in_mix < heard_apart, (mix["text"], document["text"])


def test_multi_keeps_german_after_english_with_each_segments_language(cli, app, tmp_path, base_model_path):
    """English then German (espeak-ng ``en`` then ``de``) with the multilingual base model and
    ``--language multi``: the German comes out German, the segments' languages are en then de."""
    recording = tmp_path / "switch.wav"
    ffmpeg("-i", str(speak(ENGLISH, tmp_path / "en.wav", "en")), "-i", str(speak(GERMAN, tmp_path / "de.wav", "de")),
           "-filter_complex", "[0][1]concat=n=2:v=0:a=1", str(recording))
    job_id = cli("submit", "--language", "multi", "--model", base_model_path, str(recording)).stdout.strip()
    assert cli("runner", "--burst").returncode == 0
    job = app.store.get(job_id)
    assert job.status == "succeeded", job.error
    segments = _document(job)["segments"]
    languages = [segment["language"] for segment in segments]
    assert languages[0] == "en" and languages[-1] == "de" and languages == sorted(languages, reverse=True)
    german = [segment for segment in segments if segment["language"] == "de"]
    assert len(_key_words(german, {"guten", "morgen", "ich", "buch", "geschichte", "heute"})) >= 4, german
    english = [segment for segment in segments if segment["language"] == "en"]
    assert len(_key_words(english, ENGLISH_KEYS)) >= 4, english


def test_auto_detects_english_after_forty_seconds_of_silence(cli, app, tmp_path, base_model_path):
    """``auto`` detects the language on speech: 40 s of silence before English gives ``en``, surely,
    with the VAD filter and without it (then faster-whisper alone detects on the first 30 s: silence)."""
    recording = tmp_path / "late.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-i", str(speak(ENGLISH, tmp_path / "en.wav", "en")),
           "-filter_complex", "[0]atrim=duration=40[quiet];[quiet][1]concat=n=2:v=0:a=1", str(recording))
    with_vad = cli("submit", "--model", base_model_path, str(recording)).stdout.strip()
    without = cli("submit", "--no-vad-filter", "--model", base_model_path, str(recording)).stdout.strip()
    assert cli("runner", "--burst").returncode == 0
    for job_id in (with_vad, without):
        job = app.store.get(job_id)
        assert job.status == "succeeded", job.error
        assert job.language == "en" and job.language_probability > 0.8, (job.language, job.language_probability)
        speech = [segment for segment in _document(job)["segments"] if segment["start"] >= 39.0]
        assert len(_key_words(speech, ENGLISH_KEYS)) >= 4, speech
    assert _document(app.store.get(with_vad))["segments"][0]["start"] >= 39.0


def test_a_phrase_said_over_and_over_gives_a_repetition_warning_with_its_times(cli, app, tmp_path):
    """The same phrase four times in a row, 1 s apart (ffmpeg concat), after 3 s of silence: a warning
    names the stretch's times and the JSON marks its segments. (tiny.en writes it as one segment
    saying the phrase three or four times, or as several segments, depending on thread timing.)"""
    phrase = speak(LOOP, tmp_path / "phrase.wav", "en")
    with wave.open(str(phrase)) as sound:
        phrase_seconds = sound.getnframes() / sound.getframerate()
    recording = tmp_path / "loop.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-i", str(phrase),
           "-filter_complex", "[0]atrim=duration=3[quiet];[1]apad=pad_dur=1,asplit=4[a][b][c][d];"
                              "[quiet][a][b][c][d]concat=n=5:v=0:a=1", str(recording))
    job_id = cli("submit", str(recording)).stdout.strip()
    assert cli("runner", "--burst").returncode == 0
    job = app.store.get(job_id)
    assert job.status == "succeeded", job.error
    segments = _document(job)["segments"]
    marked = [segment for segment in segments if segment.get("repetition")]
    assert marked, segments
    assert 2.0 <= marked[0]["start"] <= 4.0 and marked[-1]["end"] >= 3.0 + 3 * (phrase_seconds + 1.0)
    expected = f"possible repetition at {clock(marked[0]['start'])}–{clock(marked[-1]['end'])}"
    assert any(warning.startswith(expected) for warning in job.warnings), job.warnings
