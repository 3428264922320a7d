"""Bad inputs end with a clear message and the runner goes on to the next job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import srt
import webvtt

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


def test_each_bad_input_fails_clearly_and_the_runner_goes_on(media, cli, app):
    names = ["empty.wav", "notes.mp3", "video.mp4", "cut.mp3", "silence.wav", "jfk3.wav"]
    submitted = cli("submit", *(str(media / name) for name in names))
    assert submitted.returncode == 0, submitted.stderr
    ids = dict(zip(names, submitted.stdout.split(), strict=True))
    ran = cli("runner", "--burst", "--name", "bad")
    assert ran.returncode == 0, ran.stderr
    jobs = {name: app.store.get(job_id) for name, job_id in ids.items()}

    assert jobs["empty.wav"].status == "failed"
    assert jobs["empty.wav"].error == "the file is empty (0 bytes)"
    assert jobs["notes.mp3"].status == "failed"
    assert jobs["notes.mp3"].error.startswith("could not decode audio: this is not an audio or video file")
    assert jobs["video.mp4"].status == "failed"
    assert jobs["video.mp4"].error.startswith("no audio stream in this file")
    # A file cut off halfway: the half that is there is transcribed, with a warning saying so.
    cut = jobs["cut.mp3"]
    assert cut.status == "succeeded" and cut.error is None
    assert any("cut off" in warning and "of its 30.0 s" in warning for warning in cut.warnings)
    cut_doc = json.loads(Path(next(p for p in cut.outputs if p.endswith(".json"))).read_text())
    assert len(cut_doc["text"].split()) >= 10 and cut_doc["segments"][-1]["end"] <= 15.5
    # The job after all the bad ones still ran.
    assert jobs["jfk3.wav"].status == "succeeded"


def test_silence_succeeds_with_empty_valid_outputs(media, cli, app):
    job_id = cli("submit", str(media / "silence.wav")).stdout.strip()
    assert cli("runner", "--burst").returncode == 0
    job = app.store.get(job_id)
    assert job.status == "succeeded"
    assert job.warnings == ["no speech detected"]
    files = {Path(p).suffix: Path(p) for p in job.outputs}
    assert files[".txt"].read_text() == ""
    assert list(srt.parse(files[".srt"].read_text())) == []
    assert len(webvtt.read(str(files[".vtt"]))) == 0
    document = json.loads(files[".json"].read_text())
    assert document["segments"] == [] and document["text"] == "" and document["duration"] == 20.0
