"""What several hosts sharing one job store rely on, on SQLite and on PostgreSQL: every stored time
comes from the database's clock (leases, heartbeats, endings), a job records the runner and the
device that ran it, and on PostgreSQL a delivered job is announced to listening runners at once.
(Two runner processes on a host clock two minutes apart are tests/test_two_hosts.py.)"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from conftest import DATA, both_stores, wait_for

from runner.core.db import is_postgresql
from runner.core.options import JobOptions
from runner.core.states import JobStatus
from runner.daemon.wakeup import JobAnnouncements
from runner.jobs.submit import submit_path
from runner.jobs.view import job_to_dict

CLOCK_SLACK = timedelta(seconds=2)
"""How far apart two readings of the database's clock a few statements apart may be on a loaded machine."""


def near(value, expected) -> bool:
    """``value`` is within ``CLOCK_SLACK`` of ``expected`` (both naive UTC datetimes)."""
    return value is not None and abs(value - expected) <= CLOCK_SLACK


@both_stores
def test_a_claims_lease_and_times_come_from_the_database_clock(app):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    assert near(app.store.get(job.id).created_at, app.store.now())
    assert app.spool.claim(job.id) and app.store.claim(job.id, "host-a-1", 60, "cpu int8")
    claimed, now = app.store.get(job.id), app.store.now()
    assert near(claimed.started_at, now) and near(claimed.lease_expires_at, now + timedelta(seconds=60))
    assert claimed.lease_expires_at - claimed.started_at == timedelta(seconds=60)  # one clock reading
    assert claimed.device == "cpu int8" and claimed.runner == "host-a-1"
    assert app.store.extend_lease(job.id, "host-a-1", 120)
    assert near(app.store.get(job.id).lease_expires_at, app.store.now() + timedelta(seconds=120))
    assert app.store.finish(job.id, "host-a-1", JobStatus.SUCCEEDED)
    assert near(app.store.get(job.id).finished_at, app.store.now())


@both_stores
def test_a_lease_expires_by_the_database_clock(app):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    assert app.spool.claim(job.id) and app.store.claim(job.id, "host-a-1", 1.0)
    assert app.store.expired_leases() == []
    expired = wait_for(app.store.expired_leases, 10, what="the lease to expire")
    assert [j.id for j in expired] == [job.id]
    assert app.store.now() > expired[0].lease_expires_at
    assert [j.id for j in app.store.queued_before(0)] == []  # running, not queued


@both_stores
def test_a_runner_records_its_host_and_device_on_the_job_and_its_heartbeat(app, submit, make_runner,
                                                                        start_runner, client):
    job_id = submit(DATA / "jfk.flac").id
    runner = make_runner("gpu-box-1", host_name="gpu-box", device="cpu", compute_type="float32")
    start_runner(runner, burst=True).join(timeout=60)
    job = app.store.get(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.runner == "gpu-box-1" and job.device == "cpu float32"
    assert job_to_dict(job)["device"] == "cpu float32"
    assert client.get(f"/api/jobs/{job_id}").get_json()["device"] == "cpu float32"
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "runner gpu-box-1 on cpu float32" in page
    (record,) = [r for r in app.store.runners() if r.name == "gpu-box-1"]
    assert record.hostname == "gpu-box" and near(record.heartbeat_at, app.store.now())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_delivered_job_is_announced_to_listening_runners(app):
    assert is_postgresql(app.store.engine)
    wake = threading.Event()
    listener = JobAnnouncements(app.store.engine, wake, "listener")
    listener.start()
    try:
        assert listener.listening.wait(10), "the listener did not start"
        wake.clear()
        started = time.monotonic()
        submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
        assert wake.wait(5), "no announcement arrived"
        assert time.monotonic() - started < 2.0
    finally:
        listener.stop()
    assert not listener.listening.is_set()



def test_the_spool_ages_files_by_its_own_filesystems_clock(app):
    before = time.time()
    now = app.spool.clock()
    assert before - 2 <= now <= time.time() + 2  # a local filesystem stamps files with this host's clock
    assert list(app.spool.tmp.iterdir()) == []  # the probe file is gone
    (app.spool.tmp / "left-over").write_bytes(b"")
    assert app.spool.sweep_tmp() == 0 and app.spool.sweep_tmp(now=now + 37 * 3600) == 1
