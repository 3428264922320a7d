"""Chaos: runners killed with SIGKILL at random and restarted, as systemd would; nothing is lost, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import random
import re
import signal
import time

import pytest
from conftest import STORES, wait_for

pytestmark = [pytest.mark.slow,  # see the marker's description in pyproject.toml
              pytest.mark.parametrize("database_url", STORES, indirect=True)]


RESTARTABLE = {"SPOOLSCRIBE_LEASE_SECONDS": "5", "SPOOLSCRIBE_REAP_INTERVAL": "1",
               "SPOOLSCRIBE_THREADS": "1", "SPOOLSCRIBE_PROGRESS_INTERVAL": "0.5",
               "SPOOLSCRIBE_MAX_ATTEMPTS": "10"}  # a kill every few seconds is far harsher than life


def test_random_kills_lose_no_job_and_resume_long_ones(media, cli, app, runners):
    files = [media / "long.wav"] + [media / "jfk3.wav"] * 22 + [media / "silence.wav"] * 2 + [media / "cut.mp3"] * 5
    ids = cli("submit", *map(str, files)).stdout.split()
    long_id = ids[0]
    assert len(ids) == 30
    names = ["1", "2", "3"]
    processes = {name: runners(name, extra_env=RESTARTABLE) for name in names}
    rng = random.Random(20261129)
    kills = 0

    def restart(name: str) -> None:
        nonlocal kills
        processes[name].send_signal(signal.SIGKILL)
        processes[name].wait(timeout=10)
        kills += 1
        processes[name] = runners(name, extra_env=RESTARTABLE)

    # First kill: whoever holds the long job once it has a checkpoint, so it must resume.
    holder = wait_for(lambda: (lambda job: job.status == "running" and job.processed_seconds >= 30 and job.runner)(
        app.store.get(long_id)), 180, interval=0.05, what="the long job to checkpoint")
    restart(holder)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        counts = app.store.counts()
        if counts["succeeded"] + counts["failed"] + counts["cancelled"] == len(ids):
            break
        time.sleep(rng.uniform(2.0, 4.0))
        if kills < 12:
            restart(rng.choice(names))
    for name, process in processes.items():  # a clean stop once each runner is up (handlers installed)
        wait_for(lambda name=name, process=process: any(r.name == name and r.pid == process.pid
                                                        for r in app.store.runners()), 60,
                 what=f"runner {name} to start")
        process.terminate()
    for process in processes.values():
        assert process.wait(timeout=30) == 0

    jobs = {job_id: app.store.get(job_id) for job_id in ids}
    assert all(job.status == "succeeded" for job in jobs.values()), {j.id: (j.status, j.error) for j in jobs.values()}
    assert kills >= 5
    assert any(job.attempts > 1 for job in jobs.values())
    assert jobs[long_id].attempts >= 2
    logs = "".join(process.log_path.read_text() for process in processes.values())  # appended across restarts
    assert re.search(rf"job {long_id} resumes at (\d+\.\d) s", logs)
    for job in jobs.values():  # each output exactly once, complete, no temporary file left behind
        directory = app.settings.outputs_dir / job.id
        assert sorted(os.listdir(directory)) == sorted(os.path.basename(p) for p in job.outputs)
        assert len(job.outputs) == 4
    assert app.spool.pending() == [] and app.spool.claimed() == []
