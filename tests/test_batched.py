"""Batched inference (faster-whisper's BatchedInferencePipeline) stays close to the reference transcripts.

Measured with tiny.en int8 (2 threads): sample.wav WER 0.12 sequential, 0.15 batched (4 or 8); jfk.flac 0.
Each output is held to the reference, not to another run of the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA
from test_end_to_end import JFK, reference_of_stm, wer

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


def transcribe_all(cli, app, batch_size: int) -> dict[str, str]:
    ids = cli("submit", str(DATA / "sample.wav"), str(DATA / "jfk.flac"), "--format", "json").stdout.split()
    assert cli("runner", "--burst", extra_env={"SPOOLSCRIBE_BATCH_SIZE": str(batch_size)}).returncode == 0
    texts = {}
    for job_id in ids:
        job = app.store.get(job_id)
        assert job.status == "succeeded", job.error
        document = json.loads(Path(job.outputs[0]).read_text())
        assert all(word["start"] >= segment["start"] - 0.5 for segment in document["segments"]
                   for word in segment["words"])
        texts[job.original_name] = document["text"]
    return texts


REFERENCES = {"sample.wav": (reference_of_stm(DATA / "sample.stm"), 0.2), "jfk.flac": (JFK, 0.05)}
"""Each file's reference words and the word error rate allowed."""


@pytest.mark.parametrize("batch_size", [4, 8])
def test_batched_outputs_match_the_references(cli, app, batch_size):
    batched = transcribe_all(cli, app, batch_size)
    for name, (reference, allowed) in REFERENCES.items():
        assert wer(reference, batched[name]) <= allowed, (name, batched[name])
