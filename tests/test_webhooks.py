"""Completion webhooks against receivers this test runs on 127.0.0.1: one signed POST per ended
job (and per callback URL), retried after a 500, every attempt recorded and shown on the job page.
(A receiver that never answers: test_upkeep_inprocess.py.)"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import DATA, wait_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runner.core.schema import WebhookAttempt, WebhookDelivery
from runner.core.settings import Settings
from runner.jobs.webhooks import job_webhooks, verify_signature
from webui import create_app

SECRET = "s3cret-for-signing"
ALLOW_PRIVATE = {"SPOOLSCRIBE_WEBHOOK_ALLOW_PRIVATE": "true"}  # the receivers listen on 127.0.0.1


class Receiver:
    """An HTTP server in a thread of the test: records each POST as (path, headers, body, status);
    the status is ``answer(job id in the body, how many POSTs of that job and path came so far)``."""

    def __init__(self, answer: Callable[[str, int], int]) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes, int]] = []
        lock, seen = threading.Lock(), Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    key = (self.path, json.loads(body)["id"])
                    seen[key] += 1
                    status = answer(key[1], seen[key])
                    receiver.posts.append((self.path, dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[[Callable[[str, int], int]], Receiver]]:
    started: list[Receiver] = []

    def start(answer: Callable[[str, int], int]) -> Receiver:
        started.append(Receiver(answer))
        return started[-1]

    yield start
    for server in started:
        server.close()


def signed_bodies(app, hooks: Receiver, expected: list[tuple[str, str]]) -> dict[str, dict]:
    """Check that each (path, job id) of ``expected`` got exactly one POST answered 200, after one
    answered 500 (the receiver's answer), every POST signed with ``SECRET``, one delivery each;
    return the JSON bodies by job id."""
    ok_posts = Counter((path, json.loads(body)["id"]) for path, _, body, status in hooks.posts if status == 200)
    assert ok_posts == Counter(expected)
    assert len(hooks.posts) == 2 * len(expected) and deliveries(app) == len(expected)
    for _, headers, body, _ in hooks.posts:
        assert verify_signature(SECRET, headers["X-Spoolscribe-Signature"], body, time.time())
        assert headers["Content-Type"].startswith("application/json")
        assert headers["X-Spoolscribe-Event"] == "job.finished"
    return {json.loads(body)["id"]: json.loads(body) for _, _, body, _ in hooks.posts}


def deliveries(app, state: str | None = None) -> int:
    with Session(app.store.engine) as session:
        query = select(func.count()).select_from(WebhookDelivery)
        return session.scalar(query.where(WebhookDelivery.state == state) if state else query)


@pytest.mark.slow
def test_every_ended_job_gets_one_signed_post_retried_after_a_500(app, env, cli, media, runners, receiver, upload):
    hooks = receiver(lambda job_id, count: 500 if count == 1 else 200)
    succeeded = cli("submit", "--format", "txt,srt", str(media / "jfk3.wav")).stdout.strip()
    failed = cli("submit", str(media / "empty.wav")).stdout.strip()
    callback = f"{hooks.url}/callback?token=private"
    loopback_allowed = create_app(Settings.from_env({**env, **ALLOW_PRIVATE})).test_client()
    response = upload(DATA / "jfk.flac", via=loopback_allowed, callback_url=callback)
    assert response.status_code == 201, response.json
    with_callback = response.json["id"]
    assert response.json["callback_url"] == f"{hooks.url}/callback"  # shown without its query

    settings = {"SPOOLSCRIBE_WEBHOOK_URL": f"{hooks.url}/hook", "SPOOLSCRIBE_WEBHOOK_SECRET": SECRET,
                "SPOOLSCRIBE_WEBHOOK_BACKOFF": "0.2", "SPOOLSCRIBE_PUBLIC_URL": "https://transcripts.example/",
                **ALLOW_PRIVATE}
    cancelled = cli("submit", str(media / "jfk3.wav")).stdout.strip()
    assert cli("cancel", cancelled, extra_env=settings).returncode == 0  # queued: the cancel records its ending
    assert cli("cancel", cancelled, extra_env=settings).returncode == 1  # already ended: nothing more is owed
    runner = runners("notifier", extra_env=settings)
    wait_for(lambda: deliveries(app, "delivered") == 5, 180, interval=0.2, what="every webhook delivered")

    bodies = signed_bodies(app, hooks, [("/hook", succeeded), ("/hook", failed), ("/hook", cancelled),
                                        ("/hook", with_callback), ("/callback?token=private", with_callback)])
    done = bodies[succeeded]
    assert done["status"] == "succeeded" and done["file_name"] == "jfk3.wav" and done["error"] is None
    assert done["language"] == "en" and done["duration"] == pytest.approx(3.0, abs=0.1)
    assert done["links"] == {"job": f"https://transcripts.example/api/jobs/{succeeded}",
                             "page": f"https://transcripts.example/jobs/{succeeded}",
                             "transcripts": {fmt: f"https://transcripts.example/api/jobs/{succeeded}/transcript.{fmt}"
                                             for fmt in ("txt", "srt")}}
    assert bodies[failed]["status"] == "failed" and bodies[failed]["error"]
    assert bodies[failed]["links"]["transcripts"] == {}
    assert bodies[cancelled]["status"] == "cancelled" and bodies[cancelled]["error"] == "cancelled by request"
    retried = [body for path, _, body, _ in hooks.posts if path == "/hook" and json.loads(body)["id"] == succeeded]
    assert retried[0] == retried[1], "a retry sends the same bytes"

    (delivery, attempts), = list(job_webhooks(app.store.engine, succeeded))
    assert [(a.number, a.http_status, a.error) for a in attempts] == [(1, 500, "HTTP 500 Internal Server Error"),
                                                                       (2, 200, None)]
    assert delivery.state == "delivered" and delivery.attempts == 2 and all(a.runner == "notifier" for a in attempts)
    html = create_app(app.settings).test_client().get(f"/jobs/{with_callback}").get_data(as_text=True)
    assert html.count("HTTP 500 Internal Server Error") == 2 and html.count("HTTP 200") == 2
    assert f"{hooks.url}/callback" in html and "private" not in html
    log = runner.log_path.read_text()
    assert f"runner notifier: job {succeeded}: webhook to {hooks.url}/hook attempt 1 failed (HTTP 500" in log
    assert f"runner notifier: job {succeeded}: webhook to {hooks.url}/hook delivered (HTTP 200, attempt 2)" in log

    assert cli("delete", succeeded).returncode == 0  # its deliveries and their attempts go with it
    assert job_webhooks(app.store.engine, succeeded) == [] and deliveries(app) == 4
    with Session(app.store.engine) as session:
        assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 8


def test_callback_urls_are_checked_and_can_be_turned_off(app, upload):
    for bad in ("ftp://example.org/hook", "http:///no-host", "https://example.org/a b", "x" * 2001):
        response = upload(DATA / "jfk.flac", callback_url=bad)
        assert response.status_code == 400 and "callback URL" in response.json["error"], bad
    closed = create_app(Settings.from_env(env={}, home=app.settings.home, webhook_callbacks=False)).test_client()
    response = upload(DATA / "jfk.flac", via=closed, callback_url="https://example.org/hook")
    assert response.status_code == 400 and "SPOOLSCRIBE_WEBHOOK_CALLBACKS" in response.json["error"]
    assert 'name="callback_url"' not in closed.get("/upload").get_data(as_text=True)
    assert app.store.list() == []  # nothing was queued
