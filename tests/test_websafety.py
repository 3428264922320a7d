"""Attacks on the web, the URLs and the names people give, replayed against the real Flask app,
real processes (gunicorn, a runner, the inbox daemon, the CLI) and receivers on 127.0.0.1:
media that is also HTML, callback URLs that are malformed, carry credentials or aim at private
addresses, a stored URL no version accepts now, control characters in file names, replayable
signatures, paths on /healthz, misleading upload errors and times without a zone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from conftest import DATA, wait_for
from test_browser import browser, chromedriver  # noqa: F401  (the fixtures: headless Chromium, its driver)

from runner.core.options import JobOptions
from runner.core.schema import Job
from runner.core.settings import Settings
from runner.core.text import printable
from runner.daemon.webhook_sender import Dispatcher
from runner.jobs.actions import cancel_job
from runner.jobs.submit import submit_path
from runner.jobs.webhooks import job_webhooks, verify_signature
from webui import create_app

SECRET = "receiver-shared-secret"
ALLOW_PRIVATE = {"SPOOLSCRIBE_WEBHOOK_ALLOW_PRIVATE": "true"}
HTML = b"<html><body><script>document.title = document.cookie</script></body></html>\n"
FORGED = "INFO runner.daemon.loop: runner x: job 01FORGED succeeded"


@pytest.fixture
def polyglot(media: Path, tmp_path: Path) -> Path:
    """An HTML page followed by MP3 frames: a browser renders it, FFmpeg decodes it as audio."""
    path = tmp_path / "notes.html"
    path.write_bytes(HTML + (media / "sample.mp3").read_bytes())
    return path


class Receiver:
    """A webhook receiver on 127.0.0.1 that records each POST's path, headers and body, answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                posts.append((self.path, dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.server.shutdown()
    started.server.server_close()


def ended_with_callback(app, callback_url: str) -> Job:
    """A job queued with ``callback_url`` stored as given (as an older version stored it), then
    cancelled: its ending owes the webhook."""
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions(), callback_url=callback_url)
    return cancel_job(app.store, app.spool, app.settings, job.id).job


# -- 3. media that is also a page ----------------------------------------------------------------


def test_media_that_is_also_html_is_served_as_an_attachment_never_as_a_page(app, client, upload, polyglot, media):
    created = upload(polyglot, name="notes.html")
    assert created.status_code == 201, created.json
    served = client.get(f"/api/jobs/{created.json['id']}/media")
    assert served.status_code == 200 and served.data.startswith(HTML)
    assert served.mimetype == "application/octet-stream"  # the file starts with no known container
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("attachment;")

    mp3 = upload(media / "sample.mp3", name="talk.html").json["id"]  # a real MP3 under a page's name
    played = client.get(f"/api/jobs/{mp3}/media", headers={"Range": "bytes=0-99"})
    assert played.status_code == 206 and played.mimetype == "audio/mpeg" and len(played.data) == 100
    wav = upload(DATA / "sample.wav", name="x.svg").json["id"]
    assert client.get(f"/api/jobs/{wav}/media").mimetype == "audio/wav"
    for path in ("/", "/api/jobs", "/api/jobs/NOSUCHJOB/media", "/healthz"):
        assert client.get(path).headers["X-Content-Type-Options"] == "nosniff", path


@pytest.mark.slow
def test_in_a_browser_the_polyglot_plays_in_the_player_and_never_runs_as_a_page(browser, web_server, media):  # noqa: F811
    web = web_server()
    page = b"<html><body><script>document.title = 'PWNED'</script></body></html>\n"
    body, content_type = multipart("notes.html", page + (media / "sample.mp3").read_bytes())
    request = urllib.request.Request(f"{web.url}/api/jobs", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as response:
        job_id = json.load(response)["id"]

    browser.get(f"{web.url}/jobs/{job_id}")
    wait_for(lambda: browser.execute_script(
        "const p = document.getElementById('player'); return p.readyState >= 1 && !p.error && p.duration > 20;"),
        30, what="the player to load the media")
    browser.get(f"{web.url}/api/jobs/{job_id}/media")  # opened as a page: a download, never rendered
    downloaded = wait_for(lambda: [p for p in browser.downloads.iterdir() if not p.name.endswith(".crdownload")],
                          30, what="the download")
    assert [p.name for p in downloaded] == ["notes.html"] and downloaded[0].read_bytes().startswith(page)
    assert browser.title != "PWNED" and "PWNED" not in browser.page_source


# -- 4 and 10. callback URLs ---------------------------------------------------------------------


def test_unusable_and_private_callback_urls_are_refused_at_upload(app, env, upload):
    for bad, reason in (("https://example.invalid:99999/", "port"), ("http://example.org:0/", "port"),
                        ("http://example.org:x/", "port"), ("http://exa mple.org/", "space"),
                        ("http://example.org/\x1b[2J", "control"), ("http://-bad-.example/", "host"),
                        ("http://127.0.0.1:8080/api/jobs/X/retry", "loopback"), ("http://[::1]/", "loopback"),
                        ("http://[::ffff:127.0.0.1]/", "loopback"), ("http://169.254.169.254/latest", "link-local"),
                        ("http://10.1.2.3/", "private"), ("http://192.168.0.1/", "private"),
                        ("http://224.0.0.1/", "multicast"), ("http://0.0.0.0:8080/", "unspecified")):
        response = upload(DATA / "jfk.flac", callback_url=bad)
        assert response.status_code == 400 and reason in response.json["error"], (bad, response.json)
        assert "callback URL" in response.json["error"]
    assert app.store.list() == []  # nothing was queued, nothing half-made

    allowed = create_app(Settings.from_env({**env, **ALLOW_PRIVATE})).test_client()
    response = upload(DATA / "jfk.flac", via=allowed, callback_url="http://user:pw@127.0.0.1:9/hook?k=v")
    assert response.status_code == 201, response.json
    assert response.json["callback_url"] == "http://127.0.0.1:9/hook"  # no credentials, no query
    assert app.store.get(response.json["id"]).callback_url == "http://user:pw@127.0.0.1:9/hook?k=v"


def test_a_name_that_resolves_to_loopback_is_refused_when_sending_and_fails_once(app, receiver):
    job = ended_with_callback(app, f"http://localhost:{receiver.port}/hook")
    dispatcher = Dispatcher(app.settings, app.store.engine, "tester")
    assert dispatcher.deliver_next() is True
    assert dispatcher.deliver_next() is False, "failed for good: no retry is due"
    ((delivery, (attempt,)),) = job_webhooks(app.store.engine, job.id)
    assert delivery.state == "failed" and delivery.attempts == 1 and attempt.http_status is None
    assert "localhost is a loopback address" in attempt.error and "SPOOLSCRIBE_WEBHOOK_ALLOW_PRIVATE" in attempt.error
    assert receiver.posts == []


def test_credentials_become_basic_auth_and_the_signature_covers_the_time(app, env, receiver):
    settings = Settings.from_env({**env, **ALLOW_PRIVATE, "SPOOLSCRIBE_WEBHOOK_SECRET": SECRET})
    job = ended_with_callback(app, f"http://hook%20user:p%40ss:w@localhost:{receiver.port}/in?x=1#frag")
    before = int(time.time())
    assert Dispatcher(settings, app.store.engine, "tester").deliver_next() is True
    ((path, headers, body),) = receiver.posts
    assert path == "/in?x=1" and headers["Host"] == f"localhost:{receiver.port}"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"hook user:p@ss:w").decode()
    assert json.loads(body)["id"] == job.id

    # the receiver's check, made here independently of spoolscribe's code
    fields = dict(part.split("=", 1) for part in headers["X-Spoolscribe-Signature"].split(","))
    assert before <= int(fields["t"]) <= time.time()
    expected = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    # and the helper offered to receivers: a replay after five minutes, another body or key fail
    signed = headers["X-Spoolscribe-Signature"]
    assert verify_signature(SECRET, signed, body, time.time())
    assert not verify_signature(SECRET, signed, body, time.time() + 301)
    assert not verify_signature(SECRET, signed, body + b" ", time.time())
    assert not verify_signature("other", signed, body, time.time())
    assert not verify_signature(SECRET, "sha256=" + fields["v1"], body, time.time())
    ((delivery, (attempt,)),) = job_webhooks(app.store.engine, job.id)
    assert delivery.state == "delivered" and attempt.http_status == 200


def test_https_callbacks_connect_to_the_resolved_address_and_check_the_certificate_for_the_name(
        app, env, tmp_path, monkeypatch):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True, timeout=60)
    tls = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    tls.server.socket = context.wrap_socket(tls.server.socket, server_side=True)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # trust this receiver's certificate
        settings = Settings.from_env({**env, **ALLOW_PRIVATE})
        by_name = ended_with_callback(app, f"https://localhost:{tls.port}/tls")
        by_address = ended_with_callback(app, f"https://127.0.0.1:{tls.port}/tls")
        dispatcher = Dispatcher(settings, app.store.engine, "tester")
        assert dispatcher.deliver_next() and dispatcher.deliver_next()
    finally:
        tls.server.shutdown()
        tls.server.server_close()
    ((path, headers, _),) = tls.posts
    assert path == "/tls" and headers["Host"] == f"localhost:{tls.port}"
    assert job_webhooks(app.store.engine, by_name.id)[0][0].state == "delivered"
    ((_, (attempt,)),) = job_webhooks(app.store.engine, by_address.id)
    assert "certificate is not valid for '127.0.0.1'" in attempt.error  # the name is checked, not the address


@pytest.mark.slow
def test_a_stored_unusable_url_breaks_no_listing_page_or_status(app, client, cli):
    job = ended_with_callback(app, "https://example.invalid:99999/")
    listed = client.get("/api/jobs")
    assert listed.status_code == 200
    assert listed.json["jobs"][0]["callback_url"].startswith("(unusable URL: the URL's port")
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and "unusable URL" in page.get_data(as_text=True)
    assert client.get(f"/api/jobs/{job.id}").status_code == 200
    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["jobs"][0]["id"] == job.id
    assert cli("status", job.id).returncode == 0 and cli("jobs").returncode == 0

    dispatcher = Dispatcher(app.settings, app.store.engine, "tester")
    assert dispatcher.deliver_next() is True and dispatcher.deliver_next() is False
    ((delivery, (attempt,)),) = job_webhooks(app.store.engine, job.id)
    assert delivery.state == "failed" and delivery.attempts == 1
    assert attempt.error == "not sent: the URL's port must be a number from 1 to 65535"
    assert "not sent: the URL" in client.get(f"/jobs/{job.id}").get_data(as_text=True)


# -- 9. control characters in names ----------------------------------------------------------------


def test_printable_escapes_what_forges_lines_or_repaints_terminals():
    escaped = printable("a\nb\r\tc\x1b[2J\x7f\x85\u202egnp.mp3\u2028")
    assert escaped == "a\\nb\\r\\tc\\x1b[2J\\x7f\\x85\\u202egnp.mp3\\u2028"
    assert printable("März ×6 日本.wav") == "März ×6 日本.wav"
    assert printable(os.fsdecode(b"bad\xffname\xe4.wav") + "\ud800") == "bad\\xffname\\xe4.wav\\ud800"


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A form with one file part whose name is sent as RFC 5987 ``filename*`` (any character,
    percent-encoded, as a script may send it); returns (body, Content-Type)."""
    boundary = "spoolscribe-test-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8\'\'{quote(name)}\r\n'
            "Content-Type: application/octet-stream\r\n\r\n")
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_media_of_a_name_with_cr_lf_and_esc_downloads_with_a_safe_header(app, client):
    name = "a\r\nSet-Cookie: x=1\x1b[31m\u202e.wav"
    body, content_type = multipart(name, (DATA / "sample.wav").read_bytes())
    created = client.post("/api/jobs", data=body, content_type=content_type)
    assert created.status_code == 201 and created.json["file_name"] == name, created.json  # kept exactly
    served = client.get(f"/api/jobs/{created.json['id']}/media")
    assert served.status_code == 200 and served.mimetype == "audio/wav"
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and not re.search(r"[\x00-\x1f\x7f]", disposition)
    assert "Set-Cookie" not in served.headers
    page = client.get(f"/jobs/{created.json['id']}").get_data(as_text=True)  # the page shows the controls
    assert "a\\r\\nSet-Cookie: x=1\\x1b[31m\\u202e.wav" in page and "\u202e" not in page


@pytest.mark.slow
def test_a_newline_in_a_name_forges_no_log_line_and_splits_no_row(app, env, web_server, runners, cli, media):
    name = f"talk\n{FORGED}\x1b[2J.wav"
    web = web_server()
    body, content_type = multipart(name, (media / "jfk3.wav").read_bytes())
    request = urllib.request.Request(f"{web.url}/api/jobs", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as response:
        job = json.load(response)
    assert job["file_name"] == name
    runner = runners("escaper", "--burst")
    assert runner.wait(timeout=180) == 0
    assert app.store.get(job["id"]).status == "succeeded"

    for log in (web.log_path.read_text(), runner.log_path.read_text()):
        assert not any(line.startswith(FORGED) for line in log.splitlines()), log
        assert "\x1b" not in log
        assert f"talk\\n{FORGED}\\x1b[2J.wav" in log
    rows = cli("jobs").stdout.splitlines()
    assert len(rows) == 1 and rows[0].startswith(job["id"]) and rows[0].endswith(f"talk\\n{FORGED}\\x1b[2J.wav")
    status = cli("status").stdout.splitlines()
    assert status[-1].startswith(job["id"]) and "\x1b" not in "".join(status)
    assert json.loads(cli("jobs", "--json").stdout)[0]["file_name"] == name  # the JSON keeps it exactly


@pytest.mark.slow
def test_a_newline_in_an_inbox_file_name_forges_no_ingest_log_line(app, inbox, ingesters, media):
    (inbox / f"call\n{FORGED}.wav").write_bytes((media / "jfk3.wav").read_bytes())
    daemon = ingesters("escaper", extra_env={"SPOOLSCRIBE_INBOX_QUIET": "0.5", "SPOOLSCRIBE_INBOX_CLOSE_QUIET": "0.5"})
    wait_for(lambda: "queued for" in daemon.log(), 60, what="the file to be queued")
    log = daemon.log()
    assert not any(line.startswith(FORGED) for line in log.splitlines()), log
    assert f"call\\n{FORGED}.wav" in log


# -- 10. the health check, upload limits, times ----------------------------------------------------


def test_healthz_shows_paths_only_with_the_token(app, env):
    floor = {"SPOOLSCRIBE_MIN_FREE_BYTES": str(1 << 60), "SPOOLSCRIBE_WEB_TOKEN": "tok-of-sixteen-chars"}
    client = create_app(Settings.from_env({**env, **floor})).test_client()
    public = client.get("/healthz")
    assert public.status_code == 200 and public.json["disk_low"] is True
    assert str(app.settings.home) not in public.get_data(as_text=True)
    assert all("path" not in space for space in public.json["disk"]) and "spool" in public.json["warnings"][0]
    full = client.get("/healthz", headers={"Authorization": "Bearer tok-of-sixteen-chars"})
    assert str(app.settings.home) in full.get_data(as_text=True)
    assert {space["path"] for space in full.json["disk"]} >= {str(app.settings.spool_dir)}
    assert "path" not in create_app(app.settings).test_client().get("/healthz").json["disk"][0]  # no token: none


def test_upload_limits_name_the_field_or_the_count(app, client, upload):
    prompt = upload(DATA / "jfk.flac", initial_prompt="x" * (1 << 20))
    assert prompt.status_code == 413 and "'initial_prompt'" in prompt.json["error"], prompt.json
    assert "GiB" not in prompt.json["error"]
    with open(DATA / "jfk.flac", "rb") as handle:  # the file and 201 fields: 202 parts
        many = client.post("/api/jobs", data={"file": (handle, "jfk.flac"), "formats": ["txt"] * 201},
                           content_type="multipart/form-data")
    assert many.status_code == 400 and "more than 200 parts" in many.json["error"], many.json
    assert app.store.list() == []


def test_pages_say_their_times_are_utc(app, client, ended_job):
    job = ended_job(days=1.0)
    listing = client.get("/").get_data(as_text=True)
    assert "Files go (UTC)" in listing and f'title="{job.created_at:%Y-%m-%d %H:%M:%S} UTC"' in listing
    assert f"{job.finished_at:%Y-%m-%d %H:%M:%S} UTC" in client.get(f"/jobs/{job.id}").get_data(as_text=True)


@pytest.mark.slow
def test_cli_times_are_local_with_their_zone(app, cli, ended_job):
    job = ended_job(days=1.0)
    for zone in ("Europe/Berlin", "America/New_York", "UTC"):
        shown = job.created_at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
        listed = cli("jobs", extra_env={"TZ": zone}).stdout
        assert listed.startswith(f"{job.id}  succeeded  {shown}  "), (zone, listed)
        assert re.search(r"  media \d{4}-\d\d-\d\d \d\d:\d\d " + shown.rsplit(" ", 1)[1], listed), (zone, listed)
