"""Several runner processes on one spool: every job is processed exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import PROCESS_START_SECONDS, job_bound, wait_for

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


def claimed_ids(log: Path) -> list[str]:
    return re.findall(r"job (\w{26}) claimed", log.read_text())


def test_two_runners_process_twenty_jobs_exactly_once(media, cli, app, runners):
    submitted = cli("submit", *[str(media / "jfk3.wav")] * 20)
    ids = submitted.stdout.split()
    assert len(ids) == 20 and len(set(ids)) == 20
    first = runners("one", "--burst", "--threads", "1")
    second = runners("two", "--burst", "--threads", "1")
    bound = job_bound(app.settings, 20 * 3.0)
    assert first.wait(timeout=bound) == 0 and second.wait(timeout=bound) == 0
    claims = claimed_ids(first.log_path) + claimed_ids(second.log_path)
    assert sorted(claims) == sorted(ids)  # each job claimed once, by one runner
    assert claimed_ids(first.log_path) and claimed_ids(second.log_path)  # both did work
    for job_id in ids:
        job = app.store.get(job_id)
        assert job.status == "succeeded" and job.attempts == 1
        assert len(job.outputs) == 4 and all(Path(p).is_file() for p in job.outputs)
    assert app.spool.pending() == [] and app.spool.claimed() == []


def test_an_idle_runner_picks_up_a_new_job_without_rescanning(media, cli, app, runners):
    runner = runners("idle", extra_env={"SPOOLSCRIBE_RESCAN_INTERVAL": "600"})
    wait_for(lambda: any(r.name == "idle" and r.state == "idle" for r in app.store.runners()), PROCESS_START_SECONDS,
             what="runner up")
    job_id = cli("submit", str(media / "jfk3.wav")).stdout.strip()
    wait_for(lambda: app.store.get(job_id).status == "succeeded", 60, what="job done via a file event")
    runner.terminate()
    assert runner.wait(timeout=15) == 0
    assert [r.state for r in app.store.runners() if r.name == "idle"] == ["stopped"]
