"""The main job, end to end: `spoolscribe submit`, a runner process, real audio, real model."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jiwer
import pytest
import srt
from conftest import DATA, SPOOLSCRIBE
from cue_checks import check_files
from whisper_normalizer.english import EnglishTextNormalizer

from runner.output.cues import CueLimits

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


normalise = EnglishTextNormalizer()
JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def reference_of_stm(path: Path) -> str:
    """The words of an STM file (fields: file channel speaker start end words...)."""
    lines = [line.split(maxsplit=5) for line in path.read_text().splitlines() if line and not line.startswith(";;")]
    return " ".join(parts[5] for parts in lines if len(parts) == 6)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after Whisper's English text normaliser."""
    return jiwer.wer(normalise(reference), normalise(hypothesis))


@pytest.fixture(scope="module")
def finished_jobs(tmp_path_factory, model_path):
    """sample.wav and jfk.flac submitted with the CLI and transcribed by a runner process."""
    home = tmp_path_factory.mktemp("e2e")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SPOOLSCRIBE_")},
           "SPOOLSCRIBE_HOME": str(home), "SPOOLSCRIBE_MODEL": model_path}
    submitted = subprocess.run([SPOOLSCRIBE, "submit", str(DATA / "sample.wav"), str(DATA / "jfk.flac")],
                               env=env, capture_output=True, text=True, timeout=120, check=True)
    ids = submitted.stdout.split()
    runner = subprocess.run([SPOOLSCRIBE, "runner", "--burst", "--name", "e2e"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert runner.returncode == 0, runner.stderr
    jobs = {}
    for job_id in ids:
        status = subprocess.run([SPOOLSCRIBE, "status", job_id, "--json"], env=env, capture_output=True,
                                text=True, timeout=60, check=True)
        data = json.loads(status.stdout)
        jobs[data["file_name"]] = data
    return jobs


def outputs(job: dict) -> dict[str, Path]:
    return {Path(path).suffix[1:]: Path(path) for path in job["outputs"]}


def test_submit_prints_one_id_per_file_and_jobs_succeed(finished_jobs):
    assert set(finished_jobs) == {"sample.wav", "jfk.flac"}
    for job in finished_jobs.values():
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1 and job["runner"] == "e2e"
        assert job["progress"] == 1.0 and job["error"] is None
        assert set(outputs(job)) == {"txt", "srt", "vtt", "json"}
        assert job["language"] == "en"


def test_transcripts_are_accurate(finished_jobs):
    sample = json.loads(outputs(finished_jobs["sample.wav"])["json"].read_text())
    assert wer(reference_of_stm(DATA / "sample.stm"), sample["text"]) <= 0.25
    jfk = json.loads(outputs(finished_jobs["jfk.flac"])["json"].read_text())
    assert wer(JFK, jfk["text"]) <= 0.1


def test_speech_starts_where_it_does_in_the_recording(finished_jobs):
    sample = json.loads(outputs(finished_jobs["sample.wav"])["json"].read_text())
    first_word = sample["segments"][0]["words"][0]
    assert first_word["start"] > 6.0  # speech begins at 6.7 s
    assert abs(sample["duration"] - 30.0) < 0.1


@pytest.mark.parametrize("name", ["sample.wav", "jfk.flac"])
def test_subtitles_parse_and_match_the_json(finished_jobs, name):
    files = outputs(finished_jobs[name])
    document = json.loads(files["json"].read_text())
    segments = [s for s in document["segments"] if s["text"]]
    words = [w["word"].strip() for s in segments for w in s["words"]]
    assert " ".join(words).split() == " ".join(s["text"] for s in segments).split()
    # cues shaped within the default limits, every word of the json once, parsed by srt and webvtt-py
    check_files(files["srt"], files["vtt"], " ".join(words).split(), CueLimits(), document["duration"])
    first = list(srt.parse(files["srt"].read_text(encoding="utf-8")))[0]
    assert first.start.total_seconds() == pytest.approx(segments[0]["words"][0]["start"], abs=0.0011)


def test_txt_holds_the_same_words(finished_jobs):
    for job in finished_jobs.values():
        files = outputs(job)
        document = json.loads(files["json"].read_text())
        assert files["txt"].read_text(encoding="utf-8").split() == document["text"].split()
