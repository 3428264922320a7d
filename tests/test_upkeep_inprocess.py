"""A runner's upkeep in this process, with a fake recognizer: retention sweeps (never touching a
running job), the metrics its jobs move, and completion webhooks to receivers on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import DATA, both_stores, wait_for
from fakes import FakeRecognizer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_metrics import scrape, value
from test_retention import NO_MEDIA, kept
from test_webhooks import SECRET, Receiver, deliveries, signed_bodies

from runner.core.schema import WebhookAttempt
from runner.jobs.actions import cancel_job
from runner.jobs.metrics import snapshot, summary_lines
from runner.jobs.retention import sweep
from runner.jobs.webhooks import job_webhooks
from webui import create_app

NOW = timedelta(0)

pytestmark = both_stores  # the store's lifecycle on SQLite and on PostgreSQL


def held(at: int) -> tuple[FakeRecognizer, threading.Event, threading.Event]:
    """A recognizer that waits before segment ``at`` of its first job until the second event is set;
    the first event tells that it got there."""
    reached, go_on = threading.Event(), threading.Event()

    def hold(index: int) -> None:
        if index == at and not reached.is_set():
            reached.set()
            assert go_on.wait(timeout=60)

    return FakeRecognizer(before_segment=hold), reached, go_on


def test_a_runner_sweeps_at_start_and_never_touches_a_running_job(app, ended_job, submit, make_runner,
                                                                  start_runner, caplog):
    caplog.set_level(logging.INFO)
    old = ended_job("succeeded", days=app.settings.retention_media_days + 3)
    running = submit(DATA / "jfk.flac").id
    engine, reached, go_on = held(at=2)
    start_runner(make_runner("sweeper", engine))
    try:
        wait_for(lambda: kept(app, old) == NO_MEDIA, 30, what="the runner's retention sweep at its start")
        assert reached.wait(timeout=30)
        during = sweep(app.store, app.spool, app.settings, "test", older_than=NOW)
        assert [(item.what, item.job_id) for item in during] == [("job", old.id)]
        job = app.store.get(running)
        assert job.status == "running" and job.media_removed_at is None and (app.spool.root / job.media_path).exists()
    finally:
        go_on.set()
    wait_for(lambda: app.store.get(running).status == "succeeded", 30, what="the job to succeed")
    outputs = app.store.get(running).outputs
    assert [item.job_id for item in sweep(app.store, app.spool, app.settings, "test", older_than=NOW)] == [running]
    assert app.store.get(running) is None and not any(Path(path).exists() for path in outputs)
    assert f"runner sweeper: job {old.id}: media removed by retention" in caplog.text


def test_a_runner_sweeps_again_every_retention_interval(app, ended_job, make_runner, start_runner, caplog):
    caplog.set_level(logging.INFO)
    due_in = 2.0  # seconds from now until the media is due: after the sweep at the runner's start
    earliest = time.time() + due_in
    old = ended_job("failed", days=1.0)
    runner = make_runner("sweeper", retention_interval=0.5, retention_failed_media_days=1.0 + due_in / 86400)
    start_runner(runner)
    # due, then swept at the first reaper pass after the next interval; the margin is for a loaded machine
    bound = due_in + runner.settings.retention_interval + runner.settings.reap_interval + 10
    said = f"runner sweeper: job {old.id}: media removed by retention"
    # the log line follows the removal: wait for both, so a busy machine cannot fall between them
    wait_for(lambda: kept(app, old) == NO_MEDIA and [r for r in caplog.records if r.getMessage().startswith(said)],
             bound, what="a periodic sweep")
    (removed,) = [r for r in caplog.records if r.getMessage().startswith(said)]
    assert removed.created >= earliest - 0.01, "not before it was due"


def test_metrics_move_after_a_runner_ran_jobs(app, client, submit, make_runner, start_runner, tmp_path):
    before = scrape(client)
    assert value(before, "spoolscribe_jobs_finished_total", status="succeeded") == 0
    assert value(before, "spoolscribe_real_time_factor_count") == 0
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    succeeded = submit(DATA / "jfk.flac").id
    submit(empty)
    assert value(scrape(client), "spoolscribe_jobs", status="queued") == 2

    start_runner(make_runner("runner-a"), burst=True).join(timeout=60)
    after = scrape(client)
    assert value(after, "spoolscribe_jobs", status="queued") == 0
    assert value(after, "spoolscribe_jobs", status="succeeded") == 1
    assert value(after, "spoolscribe_jobs_finished_total", status="succeeded") == 1
    assert value(after, "spoolscribe_jobs_finished_total", status="failed") == 1
    assert value(after, "spoolscribe_jobs_finished_total", status="cancelled") == 0
    assert value(after, "spoolscribe_audio_seconds_total") == pytest.approx(11.0, abs=0.05)
    buckets = [value(after, "spoolscribe_real_time_factor_bucket", le=le)
               for le in ("0.05", "0.1", "0.2", "0.3", "0.5", "0.75", "1.0", "1.5", "2.0", "3.0", "5.0", "+Inf")]
    assert buckets == sorted(buckets) and buckets[-1] == value(after, "spoolscribe_real_time_factor_count") == 1
    assert value(after, "spoolscribe_real_time_factor_sum") > 0
    assert [(r.name, r.state) for r in app.store.runners()] == [("runner-a", "stopped")]
    app.store.heartbeat("runner-b", "idle", None, app.store.now())
    now = scrape(client)
    assert 0 <= value(now, "spoolscribe_runner_heartbeat_age_seconds", runner="runner-b") < 5
    assert value(now, "spoolscribe_disk_free_bytes", directory="spool") > 0
    assert value(now, "spoolscribe_disk_min_free_bytes") == app.settings.min_free_bytes
    lines = summary_lines(snapshot(app.store, app.settings))
    assert "finished:   1 succeeded, 1 failed, 0 cancelled (all time)" in lines
    assert "audio:      11 s transcribed" in lines

    assert client.delete(f"/api/jobs/{succeeded}").status_code == 204
    deleted = scrape(client)
    assert value(deleted, "spoolscribe_jobs", status="succeeded") == 0
    assert value(deleted, "spoolscribe_jobs_finished_total", status="succeeded") == 1, "counters never go down"


@pytest.fixture
def hooks():
    """A receiver on 127.0.0.1 that answers each job's first POST per path with 500, then 200."""
    receiver = Receiver(lambda job_id, count: 500 if count == 1 else 200)
    yield receiver
    receiver.close()


def test_every_ended_job_gets_one_signed_post_retried_after_a_500(app, client, upload, submit, make_runner,
                                                                 start_runner, hooks, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    settings = {"webhook_url": f"{hooks.url}/hook", "webhook_secret": SECRET, "webhook_backoff": 0.2,
                "public_url": "https://transcripts.example/", "webhook_allow_private": True}  # 127.0.0.1
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    succeeded = submit(DATA / "jfk.flac", formats=("txt", "srt")).id
    failed = submit(empty).id
    loopback_allowed = create_app(app.settings.with_overrides(webhook_allow_private=True)).test_client()
    response = upload(DATA / "jfk.flac", via=loopback_allowed, callback_url=f"{hooks.url}/callback?token=private")
    assert response.status_code == 201, response.json
    with_callback = response.json["id"]
    runner = make_runner("notifier", **settings)
    cancelled = submit(DATA / "jfk.flac").id
    cancel_job(app.store, app.spool, runner.settings, cancelled)  # queued: the cancel records its ending
    start_runner(runner)
    wait_for(lambda: deliveries(app, "delivered") == 5, 60, interval=0.1, what="every webhook delivered")

    bodies = signed_bodies(app, hooks, [("/hook", succeeded), ("/hook", failed), ("/hook", cancelled),
                                        ("/hook", with_callback), ("/callback?token=private", with_callback)])
    done = bodies[succeeded]
    assert done["status"] == "succeeded" and done["language"] == "en" and done["duration"] == pytest.approx(11.0)
    assert done["links"]["transcripts"] == {fmt: f"https://transcripts.example/api/jobs/{succeeded}/transcript.{fmt}"
                                            for fmt in ("txt", "srt")}
    assert bodies[failed]["status"] == "failed" and bodies[failed]["error"]
    assert bodies[cancelled]["status"] == "cancelled" and bodies[cancelled]["error"] == "cancelled by request"
    (delivery, attempts), = job_webhooks(app.store.engine, succeeded)
    assert [(a.number, a.http_status, a.error) for a in attempts] == [(1, 500, "HTTP 500 Internal Server Error"),
                                                                       (2, 200, None)]
    assert delivery.state == "delivered" and all(a.runner == "notifier" for a in attempts)
    html = client.get(f"/jobs/{with_callback}").get_data(as_text=True)
    assert html.count("HTTP 500 Internal Server Error") == 2 and html.count("HTTP 200") == 2
    assert f"{hooks.url}/callback" in html and "private" not in html
    assert (f"runner notifier: job {succeeded}: webhook to {hooks.url}/hook delivered (HTTP 200, attempt 2)"
            in caplog.text)


class Silent:
    """A receiver that accepts connections and reads requests but never answers (until closed)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.requests: list[bytes] = []
        self.connections: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)
            self.requests.append(connection.recv(65536))

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.listener.close()


def test_a_receiver_that_never_answers_does_not_hold_up_the_runner(app, submit, make_runner, start_runner):
    silent = Silent()
    try:
        ids = [submit(DATA / "jfk.flac").id for _ in range(3)]
        start_runner(make_runner("patient", webhook_url=silent.url, webhook_timeout=300))
        wait_for(lambda: all(app.store.get(job_id).status == "succeeded" for job_id in ids), 60, interval=0.1,
                 what="every job to succeed")
        wait_for(lambda: silent.requests, 30, what="the first webhook request to arrive")
        assert len(silent.requests) == 1 and silent.requests[0].startswith(b"POST /hook HTTP/1.1")
        with Session(app.store.engine) as session:
            assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0
        assert deliveries(app, "pending") == 3
    finally:
        silent.close()  # the attempt in flight now ends with an error, recorded like any other
    wait_for(lambda: any(attempts for _, attempts in job_webhooks(app.store.engine, ids[0])), 30,
             what="the attempt to be recorded")
    (delivery, (attempt, *_)), = job_webhooks(app.store.engine, ids[0])
    assert attempt.http_status is None and attempt.error and delivery.state == "pending"
    assert attempt.runner == "patient" and attempt.seconds > 0
