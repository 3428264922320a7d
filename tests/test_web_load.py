"""The web under slow clients and bursts: a bounded number of request bodies read at once, each
at a minimum pace, so that /healthz and the status reads always answer quickly.

In process: the real Flask app, fed a real socket as its request body. Live: gunicorn with the
repository's config on loopback, against 12 and 50 slow bodies, 50 slow request heads and 200
uploads at once (tests/slowload.py, also used by bench/slow_clients.py)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import at_once, wait_for
from slowload import BOUNDARY, burst, multipart, slow_body, slow_clients
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from runner.cli.main import main
from runner.core.settings import Settings, SettingsError
from webui import create_app
from webui.worker import HEAD_TIMEOUT

DATA = Path(__file__).parent / "data"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture
def one_slot(env):
    """A client of the app with one body slot and a 1 s head start for bodies."""
    return create_app(Settings.from_env(env, web_upload_slots=1, web_body_timeout=1.0)).test_client()


def test_a_stalled_body_holds_the_only_slot_until_it_is_cut_and_reads_never_wait(one_slot, app):
    ours, theirs = socket.socketpair()
    answers: list = []

    def stalled_upload() -> None:  # announces 1 MB, sends 60 bytes, then nothing
        environ = EnvironBuilder("/api/jobs", method="POST", content_type=MULTIPART).get_environ()
        with ours.makefile("rb") as body:
            environ.update({"wsgi.input": body, "CONTENT_LENGTH": "1000000", "gunicorn.socket": ours})
            started = time.monotonic()
            response = Response.from_app(one_slot.application, environ, buffered=True)
            answers.append((response, time.monotonic() - started))

    theirs.sendall(multipart("stalled.wav", b"")[:60])
    sender = threading.Thread(target=stalled_upload)
    sender.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the stalled body takes the slot at its first read
            other = one_slot.post("/api/jobs", data=b"x", content_type=MULTIPART)
            if other.status_code == 503:
                break
            time.sleep(0.05)
        assert other.status_code == 503 and other.headers["Retry-After"] == "5", (other.json, answers)
        assert "try again in 5 s" in other.json["error"]
        assert one_slot.get("/healthz").status_code == 200 and one_slot.get("/api/jobs").status_code == 200
    finally:
        sender.join(15)
        theirs.close()
    (response, seconds), = answers
    assert response.status_code == 408 and "too slowly" in response.get_json()["error"]
    assert seconds < 1 + 4096 / 1024 + 2, f"cut after {seconds:.1f} s"  # head start + its first read's share
    assert one_slot.post("/api/jobs", data=b"x", content_type=MULTIPART).status_code == 400, "the slot is free again"
    assert app.store.list() == []
    assert list(app.spool.tmp.iterdir()) == [], "the cut upload left nothing behind"


def test_requests_without_a_body_and_refused_ones_take_no_slot(one_slot, env, upload):
    guarded = create_app(Settings.from_env(env, web_upload_slots=1, web_token="t" * 16)).test_client()
    for _ in range(3):
        assert guarded.post("/api/jobs", data=b"x" * 100, content_type=MULTIPART).status_code == 401
    assert upload(DATA / "jfk.flac", via=guarded, headers={"Authorization": "Bearer " + "t" * 16}).status_code == 201
    for _ in range(3):
        assert upload(DATA / "jfk.flac", via=one_slot).status_code == 201, "each upload gives its slot back"


TOKEN = "s3cret-token-for-tests"
SAYINGS = ["Good morning, this is Ana from Berlin.", "We met Mr. Schmit yesterday."]


def test_a_login_and_an_edit_never_wait_for_the_upload_slots(env, transcribed):
    web = create_app(Settings.from_env(env, web_upload_slots=1, web_body_timeout=60.0, web_token=TOKEN)).test_client()
    job = transcribed(SAYINGS)
    ours, theirs = socket.socketpair()
    answers: list = []

    def stalled_upload() -> None:  # holds the only slot until its socket closes
        environ = EnvironBuilder("/api/jobs", method="POST", content_type=MULTIPART,
                                 headers={"Authorization": f"Bearer {TOKEN}"}).get_environ()
        with ours.makefile("rb") as body:
            environ.update({"wsgi.input": body, "CONTENT_LENGTH": "1000000", "gunicorn.socket": ours})
            answers.append(Response.from_app(web.application, environ, buffered=True))

    theirs.sendall(multipart("stalled.wav", b"")[:60])
    sender = threading.Thread(target=stalled_upload)
    sender.start()
    try:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            other = web.post("/api/jobs", data=b"x", content_type=MULTIPART, headers=bearer)
            if other.status_code == 503:
                break
            time.sleep(0.05)
        assert other.status_code == 503, "the stalled upload holds the only slot"
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").get_data(as_text=True)).group(1)
        assert web.post("/login", data={"token": TOKEN, "csrf_token": csrf}).status_code == 302
        edit = web.patch(f"/api/jobs/{job.id}/segments/0", json={"text": "Good morning, Ana here.", "base_version": 0},
                         headers=bearer)
        assert edit.status_code == 200, edit.get_json()
        assert web.post("/api/jobs", data=b"x", content_type=MULTIPART, headers=bearer).status_code == 503
    finally:
        theirs.close()
        sender.join(15)
    assert [answer.status_code for answer in answers] == [400], "the upload ended when its client left"


def test_twelve_edits_at_once_give_one_200_and_409s(client, transcribed):
    job = transcribed(SAYINGS)
    url = f"/api/jobs/{job.id}/segments/1"
    answers = at_once(*(lambda n=n: client.patch(url, json={"text": f"We met Mr. Schmidt {n}.", "base_version": 0})
                        for n in range(12)))
    assert sorted(answer.status_code for answer in answers) == [200] + [409] * 11


@pytest.mark.slow
def test_live_edits_and_form_posts_pass_while_slow_uploads_hold_every_slot(web_server, app, transcribed):
    web = web_server("--workers", "1", extra_env={"SPOOLSCRIBE_WEB_BODY_TIMEOUT": "120"})  # 2 upload slots
    job = transcribed(SAYINGS)
    stop = threading.Event()

    def send(method: str, path: str, body: bytes, content_type: str) -> int:
        request = urllib.request.Request(web.url + path, method=method, data=body,
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status
        except urllib.error.HTTPError as refused:
            return refused.code

    def edit(n: int) -> int:
        body = json.dumps({"text": f"We met Mr. Schmidt {n}.", "base_version": 0}).encode()
        return send("PATCH", f"/api/jobs/{job.id}/segments/1", body, "application/json")

    with ThreadPoolExecutor(app.settings.web_upload_slots + 1) as pool:
        slow = [pool.submit(slow_body, web.url, stop, 120) for _ in range(app.settings.web_upload_slots + 1)]
        try:
            wait_for(lambda: any(future.done() for future in slow), 60, what="the upload beyond the slots")
            assert [future.result() for future in slow if future.done()] == [503], "every slot is held"
            with ThreadPoolExecutor(12) as editors:
                codes = sorted(editors.map(edit, range(12)))
            assert codes == [200] + [409] * 11, codes
            form = send("POST", f"/jobs/{job.id}/retry", b"csrf_token=stale", "application/x-www-form-urlencoded")
            assert form == 400, "the form reached the application (its CSRF check), no 503"
            assert sum(future.done() for future in slow) == 1, "the slow uploads still hold their slots"
        finally:
            stop.set()


@pytest.mark.slow
def test_slow_bodies_slow_heads_and_an_upload_burst_never_slow_down_healthz_and_status_reads(web_server, app, tmp_path):
    web = web_server(extra_env={"SPOOLSCRIBE_WEB_BODY_TIMEOUT": "3"})  # 2 workers x 2 body slots
    slots = 2 * app.settings.web_upload_slots

    outcomes, watch = slow_clients(web.url, 12, seconds=10)
    assert not watch.failures and watch.worst < 1.0, watch.summary()
    assert set(outcomes) <= {408, 503} and outcomes[408] <= slots, outcomes  # cut at about 3 + 4 s

    outcomes, watch = slow_clients(web.url, 50, seconds=5)
    assert not watch.failures and watch.worst < 1.0, watch.summary()
    assert outcomes[503] >= 50 - slots and set(outcomes) <= {503, "open"}, outcomes

    outcomes, watch = slow_clients(web.url, 50, seconds=HEAD_TIMEOUT + 3, head_only=True)
    assert not watch.failures and watch.worst < 1.0, watch.summary()
    assert outcomes == {"closed": 50}, outcomes  # after HEAD_TIMEOUT

    clip = tmp_path / "jfk3.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / "jfk.flac"), "-t", "3", "-ac", "1", "-ar", "16000",
                    str(clip)], check=True, timeout=60)
    statuses, watch, retry_afters, slowest = burst(web.url, 200, multipart("jfk3.wav", clip.read_bytes()))
    assert not watch.failures and watch.worst < 1.0, watch.summary()
    assert set(statuses) <= {201, 503} and statuses[201] >= 1, statuses
    assert set(retry_afters) == {"5"} and slowest < 30, (retry_afters, slowest)
    assert len(app.store.list(limit=500)) == statuses[201], "every 201 is a job, and only those"


def test_upload_slots_must_leave_threads_for_reads(env):
    with pytest.raises(SettingsError, match="SPOOLSCRIBE_WEB_UPLOAD_SLOTS must be at least 1 and less than "
                                            r"SPOOLSCRIBE_WEB_THREADS \(2\) so that reads keep free threads, got 2"):
        Settings.from_env(env, web_threads=2)
    with pytest.raises(SettingsError, match="got 0"):
        Settings.from_env(env, web_upload_slots=0)
    assert Settings.from_env(env, web_threads=3).web_upload_slots == 2


def test_web_and_compat_refuse_no_workers_and_threads_that_leave_none_for_reads(env, app, monkeypatch):
    def started(*args) -> None:
        raise AssertionError(f"gunicorn started: {args}")

    monkeypatch.setattr(os, "execve", started)  # a refusal that failed would replace pytest with gunicorn

    def web(*args: str):
        return CliRunner().invoke(main, ["--home", str(app.settings.home), *args], prog_name="spoolscribe")

    for command, flag, value in (("web", "--workers", "0"), ("web", "--workers", "-1"), ("web", "--threads", "0"),
                                 ("compat", "--workers", "0")):
        refused = web(command, flag, value)
        assert refused.exit_code == 2 and f"Invalid value for '{flag}': {value} is not in the range x>=1" in \
            refused.stderr, refused.output
    refused = web("web", "--threads", "2")
    assert refused.exit_code == 2, refused.output
    assert "Invalid value for '--threads': 2 leaves no thread for reads while uploads stream: give more than the 2 " \
           "upload slots (SPOOLSCRIBE_WEB_UPLOAD_SLOTS)" in refused.stderr and "WEB_THREADS" not in refused.stderr
    for name in ("web_workers", "compat_workers"):
        with pytest.raises(SettingsError, match=f"SPOOLSCRIBE_{name.upper()} must be at least 1, got 0"):
            Settings.from_env(env, **{name: 0})
