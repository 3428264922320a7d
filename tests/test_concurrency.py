"""Load on the database and the CPUs: no "database is locked", no lost lease, no crash."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from conftest import job_bound, wait_for

from runner.core.options import JobOptions
from runner.jobs.submit import submit_path

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


def test_four_runners_readers_and_submissions_for_a_minute(media, app, runners):
    procs = [runners(f"r{i}", extra_env={"SPOOLSCRIBE_THREADS": "1"}) for i in range(4)]
    errors: list[BaseException] = []
    reads = 0
    stop = threading.Event()

    def read_status():  # 50 status reads per second, as a busy status page would make
        nonlocal reads
        while not stop.is_set():
            started = time.monotonic()
            try:
                jobs = app.store.list(limit=50)
                if jobs:
                    app.store.get(jobs[0].id)
                app.store.counts()
                reads += 1
            except BaseException as exc:  # noqa: BLE001 - any error fails the test below
                errors.append(exc)
            stop.wait(max(0.0, 0.02 - (time.monotonic() - started)))

    reader = threading.Thread(target=read_status)
    reader.start()
    submitted = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # a stream of submissions: one every 1.5 s
            submitted.append(submit_path(app.store, app.spool, media / "jfk3.wav", JobOptions(formats=("txt",))).id)
            time.sleep(1.5)
    finally:
        stop.set()
        reader.join(timeout=10)
    wait_for(lambda: all(app.store.get(i).status == "succeeded" for i in submitted),
             job_bound(app.settings, 3.0 * len(submitted)), what="all jobs done")
    assert errors == []
    assert reads >= 50 * 60 * 0.8
    for proc in procs:
        assert proc.poll() is None, f"runner died: {proc.log_path.read_text()[-2000:]}"
        proc.terminate()
    for proc in procs:
        assert proc.wait(timeout=30) == 0
        log = proc.log_path.read_text()
        assert "locked" not in log and "Traceback" not in log
    assert all(app.store.get(i).attempts == 1 for i in submitted)


def test_heartbeat_holds_the_lease_on_a_fully_loaded_machine(media, cli, app, runners):
    """A several-minute recording with both cores busy with other work too: the lease never lapses
    (another runner reaps every half second with a 3 s lease) and the job runs exactly once."""
    tight = {"SPOOLSCRIBE_LEASE_SECONDS": "3", "SPOOLSCRIBE_HEARTBEAT_INTERVAL": "1",
             "SPOOLSCRIBE_REAP_INTERVAL": "0.5"}
    burners = [subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 300\n"
                                 "while time.time() < end: pass"]) for _ in range(2)]
    try:
        job_id = cli("submit", str(media / "long.wav")).stdout.strip()
        worker = runners("worker", "--threads", "2", extra_env=tight)
        wait_for(lambda: app.store.get(job_id).status == "running", 60, what="the job to start")
        watcher = runners("watcher", extra_env=tight)  # idle, reaping every 0.5 s
        wait_for(lambda: app.store.get(job_id).status == "succeeded", 300, interval=0.5, what="the job to finish")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait(timeout=10)
    job = app.store.get(job_id)
    assert job.attempts == 1 and job.runner == "worker"
    assert "returned to the queue" not in watcher.log_path.read_text()
    assert "no longer ours" not in worker.log_path.read_text()
