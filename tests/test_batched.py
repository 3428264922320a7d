"""Batched inference (faster-whisper's BatchedInferencePipeline) gives the same words as sequential."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA
from test_end_to_end import wer

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


@pytest.mark.parametrize("batch_size", [4, 8])
def test_batched_and_sequential_outputs_agree(cli, app, batch_size):
    sequential = transcribe_all(cli, app, 0)
    batched = transcribe_all(cli, app, batch_size)
    for name in ("sample.wav", "jfk.flac"):
        assert wer(sequential[name], batched[name]) <= 0.05, (sequential[name], batched[name])
