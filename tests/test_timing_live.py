"""With the real model (tiny.en) in a real runner process: segments Whisper places past the audio's
end are cut there and said on the job, and a language an English-only model cannot do is said on
the job. The same with a fake recognizer: tests/test_timing_jobs.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import srt
import webvtt
from conftest import DATA
from test_timing import check_spans, vtt_seconds

from runner.daemon.recognizer import english_only_warning

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml

SAMPLE_SECONDS = 30.0


def test_segments_whisper_places_past_the_end_are_cut_there_and_said(app, cli):
    # Without VAD and word timestamps, tiny.en ends the last segment of this 30 s recording at 31.8 s.
    job_id = cli("submit", str(DATA / "sample.wav"), "--no-vad-filter", "--no-word-timestamps").stdout.strip()
    ran = cli("runner", "--burst", "--name", "fitter")
    assert ran.returncode == 0, ran.stderr
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.duration == SAMPLE_SECONDS, job.error
    past = [record for record in app.store.segments(job_id) if record.end > SAMPLE_SECONDS]  # as the model gave them
    assert past, "the model no longer places a segment past the end: pick another recording"
    said = (f"{len(past)} segment ending after the audio's end (30.0 s) was cut there" if len(past) == 1 else
            f"{len(past)} segments ending after the audio's end (30.0 s) were cut there")
    assert any(warning.startswith("times corrected to fit the audio: ") and said in warning
               for warning in job.warnings), job.warnings
    files = {Path(p).suffix[1:]: Path(p) for p in job.outputs}
    cues = list(srt.parse(files["srt"].read_text(encoding="utf-8")))
    check_spans([(c.start.total_seconds(), c.end.total_seconds()) for c in cues], "srt cues", duration=SAMPLE_SECONDS)
    captions = webvtt.read(str(files["vtt"]))
    check_spans([(vtt_seconds(c.start), vtt_seconds(c.end)) for c in captions], "vtt cues", duration=SAMPLE_SECONDS)
    document = json.loads(files["json"].read_text(encoding="utf-8"))
    check_spans([(s["start"], s["end"]) for s in document["segments"]], "segments", duration=SAMPLE_SECONDS)
    assert document["segments"][-1]["end"] == SAMPLE_SECONDS


def test_an_english_only_model_asked_for_german_says_it_transcribed_english(app, cli, media, model_path):
    job_id = cli("submit", str(media / "jfk3.wav"), "--language", "de").stdout.strip()
    ran = cli("runner", "--burst", "--name", "english")
    assert ran.returncode == 0, ran.stderr
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.language == "en", job.error
    assert job.warnings == [english_only_warning(model_path, "de")]
    assert "fellow americans" in Path(next(p for p in job.outputs if p.endswith(".txt"))).read_text().lower()
