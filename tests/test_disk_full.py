"""A full disk while writing outputs: the job fails cleanly, nothing truncated remains, work goes on."""

from __future__ import annotations

import os

import pytest
from conftest import job_bound, wait_for

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


@pytest.fixture
def full_outputs(home, tmpfs):
    """The outputs directory on a 16 KiB tmpfs, filled to the brim (needs root, as CI has)."""
    target = tmpfs(home / "outputs", "16k")
    filler = target / ".filler"
    with open(filler, "wb", buffering=0) as handle:
        for _ in range(64):  # 64 KiB at most: more than the filesystem holds
            try:
                handle.write(b"\0" * 1024)
            except OSError:
                break
    return target, filler


def test_disk_full_fails_the_job_cleanly_and_the_runner_goes_on(full_outputs, media, cli, app, runners):
    outputs, filler = full_outputs
    first = cli("submit", str(media / "jfk3.wav")).stdout.strip()
    runner = runners("writer", extra_env={"SPOOLSCRIBE_MIN_FREE_BYTES": "0"})  # no disk guard: the write must fail
    wait_for(lambda: app.store.get(first).status == "failed", job_bound(app.settings, 3.0), what="the job to fail")
    job = app.store.get(first)
    assert job.error == "no space left on device while writing the outputs; free some space and retry the job"
    assert job.outputs == []
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(outputs) for f in files if f != ".filler"]
    assert leftovers == []  # no truncated file, no temporary file
    filler.unlink()
    second = cli("submit", str(media / "jfk3.wav")).stdout.strip()
    wait_for(lambda: app.store.get(second).status == "succeeded", job_bound(app.settings, 3.0),
             what="the next job to succeed")
    assert runner.poll() is None
