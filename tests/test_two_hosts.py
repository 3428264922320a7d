"""Two "hosts" on one PostgreSQL job store and one spool: runner processes with different host names,
one of them with its clock two minutes fast (libfaketime, Debian package ``faketime``). Leases come
from the database's clock, so the fast host never takes a job the other still works on, and a job
whose runner dies waits no longer than a lease period before the other host takes it."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PROCESS_START_SECONDS, job_bound, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

AHEAD_SECONDS = 120
SHARED = {"SPOOLSCRIBE_LEASE_SECONDS": "6", "SPOOLSCRIBE_REAP_INTERVAL": "1", "SPOOLSCRIBE_THREADS": "1",
          "SPOOLSCRIBE_PROGRESS_INTERVAL": "0.5"}
LONG_SECONDS = 180.0
"""long.wav: sample.wav six times."""


def faketime_library() -> str:
    """libfaketime's preload library (Debian: ``/usr/lib/<arch>/faketime/libfaketime.so.1``)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        reason = "libfaketime is not installed: Debian package faketime (scripts/install.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found[0]


@pytest.fixture
def hosts(runners, app):
    """``start(host, name)``: a runner named ``<host>-<name>`` with host name ``host``; host ``fast``
    runs with its clock ``AHEAD_SECONDS`` ahead (checked). Returns the Popen once it heartbeats idle."""
    # the wall clock only: with a faked monotonic clock, libfaketime 0.9.10 stalls timed waits
    # (pthread_cond_timedwait), which is not what a host with a fast clock does
    fast_clock = {"LD_PRELOAD": faketime_library(), "FAKETIME": f"+{AHEAD_SECONDS}",
                  "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    ahead = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], env={**os.environ, **fast_clock},
                           capture_output=True, text=True, timeout=60)
    assert float(ahead.stdout) - time.time() > AHEAD_SECONDS - 10, "libfaketime did not move the clock"

    def start(host: str, name: str) -> subprocess.Popen:
        clock = fast_clock if host == "fast" else {}
        process = runners(f"{host}-{name}", extra_env={**SHARED, "SPOOLSCRIBE_HOST_NAME": host, **clock})
        wait_for(lambda: any(r.name == f"{host}-{name}" and r.pid == process.pid and r.state == "idle"
                             for r in app.store.runners()), PROCESS_START_SECONDS, what=f"runner {host}-{name} up")
        return process

    return start


def holder(app, job_id: str) -> str | None:
    """The runner holding the job while it runs, else None."""
    job = app.store.get(job_id)
    return job.runner if job.status == "running" else None


def test_a_host_with_a_fast_clock_steals_no_lease_and_takes_over_a_dead_hosts_job_in_time(media, cli, app, hosts):
    lease = float(SHARED["SPOOLSCRIBE_LEASE_SECONDS"])
    # The slow-clock host works on a job while the fast one idles and reaps every second.
    slow = hosts("slow", "1")
    first = cli("submit", str(media / "long.wav")).stdout.strip()
    wait_for(lambda: holder(app, first) == "slow-1", PROCESS_START_SECONDS, interval=0.05, what="slow-1 to claim")
    fast = hosts("fast", "1")
    short = cli("submit", *[str(media / "jfk3.wav")] * 4).stdout.split()
    wait_for(lambda: all(app.store.get(j).status == "succeeded" for j in [first, *short]),
             job_bound(app.settings, LONG_SECONDS + 12), interval=0.5, what="every job to succeed")
    jobs = [app.store.get(j) for j in [first, *short]]
    assert [j.attempts for j in jobs] == [1] * 5, "a lease was stolen"
    assert jobs[0].runner == "slow-1" and {j.runner for j in jobs[1:]} <= {"slow-1", "fast-1"}
    assert "returned to the queue" not in fast.log_path.read_text()  # type: ignore[attr-defined]

    # The fast host dies holding a job; the slow one takes it within a lease period.
    slow.terminate()
    assert slow.wait(timeout=30) == 0
    orphan = cli("submit", str(media / "long.wav")).stdout.strip()
    wait_for(lambda: holder(app, orphan) == "fast-1", PROCESS_START_SECONDS, interval=0.05, what="fast-1 to claim")
    slow = hosts("slow", "1")
    assert holder(app, orphan) == "fast-1", "fast-1 finished the long job before slow-1 restarted"
    fast.send_signal(signal.SIGKILL)
    fast.wait(timeout=10)
    died = time.monotonic()
    wait_for(lambda: holder(app, orphan) == "slow-1", lease + 30, interval=0.05, what="slow-1 to take the job")
    waited = time.monotonic() - died
    # the lease (from its last heartbeat, before the kill), a reaper pass, and slack for a loaded machine
    assert waited <= lease + float(SHARED["SPOOLSCRIBE_REAP_INTERVAL"]) + 5, waited
    wait_for(lambda: app.store.get(orphan).status == "succeeded", job_bound(app.settings, LONG_SECONDS),
             interval=0.5, what="the orphaned job to succeed")
    job = app.store.get(orphan)
    assert job.attempts == 2 and job.runner == "slow-1"
    assert "runner fast-1 abandoned it (attempt 1 of 3)" in slow.log_path.read_text()  # type: ignore[attr-defined]
    slow.terminate()
    assert slow.wait(timeout=30) == 0
    assert app.spool.pending() == [] and app.spool.claimed() == []
