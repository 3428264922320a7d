"""Access control: the shared token (bearer for the API, login for the pages), CSRF, cookies,
and the warning for an exposed web without authentication."""

from __future__ import annotations

import http.client
import logging
import os
import re
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from runner.core.options import JobOptions
from runner.core.settings import Settings, SettingsError
from runner.jobs.submit import submit_path
from webui import create_app
from webui.auth import warn_if_exposed
from webui.sessions import SessionStore
from webui.throttle import Throttle, client_address

DATA = Path(__file__).parent / "data"
TOKEN = "s3cret-t0ken-that-must-never-be-logged"


@pytest.fixture
def guarded(env):
    """A client of the app with SPOOLSCRIBE_WEB_TOKEN set (and secure cookies)."""
    return create_app(Settings.from_env(env, web_token=TOKEN, web_cookie_secure=True)).test_client()


def csrf_of(page: bytes) -> str:
    return re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()


def test_api_needs_the_bearer_token(guarded, upload, caplog):
    caplog.set_level(logging.DEBUG)
    anonymous = guarded.get("/api/jobs")
    assert anonymous.status_code == 401 and "Authorization: Bearer" in anonymous.json["error"]
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = guarded.get("/api/jobs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json["error"] == "invalid token"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get("/api/jobs", headers=bearer).status_code == 200
    created = upload(DATA / "jfk.flac", via=guarded, headers={**bearer, "Origin": "https://elsewhere.example"})
    assert created.status_code == 201, "a bearer token needs no CSRF token"
    assert upload(DATA / "jfk.flac", via=guarded).status_code == 401
    assert guarded.get("/healthz").status_code == 200, "the health check needs no login"
    assert TOKEN not in caplog.text


def test_pages_need_a_login_and_the_session_then_works_for_the_api(app, guarded, caplog):
    caplog.set_level(logging.DEBUG)
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    redirected = guarded.get(f"/jobs/{job.id}")
    assert redirected.status_code == 302 and redirected.headers["Location"] == f"/login?next=/jobs/{job.id}"
    login_page = guarded.get("/login").data
    assert b"queued" not in login_page, "no job counts before the login"
    token = csrf_of(login_page)
    refused = guarded.post("/login", data={"csrf_token": token, "token": "guess", "next": f"/jobs/{job.id}"})
    assert refused.status_code == 401 and b"That is not the token." in refused.data
    assert guarded.post("/login", data={"token": TOKEN}).status_code == 400, "the login form needs its CSRF token"
    logged_in = guarded.post("/login", data={"csrf_token": token, "token": TOKEN, "next": f"/jobs/{job.id}"})
    assert logged_in.status_code == 302 and logged_in.headers["Location"] == f"/jobs/{job.id}"
    cookie = logged_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert guarded.get("/").status_code == 200 and guarded.get("/api/jobs").status_code == 200

    browser = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    no_token = guarded.post(f"/api/jobs/{job.id}/cancel", headers=browser)
    assert no_token.status_code == 400 and "CSRF" in no_token.json["error"]
    page_token = csrf_of(guarded.get("/").data)
    with_token = guarded.post(f"/api/jobs/{job.id}/cancel", headers={**browser, "X-CSRF-Token": page_token})
    assert with_token.status_code == 200 and with_token.json["status"] == "cancelled"

    guarded.post("/logout", data={"csrf_token": page_token})
    assert guarded.get("/").status_code == 302 and guarded.get("/api/jobs").status_code == 401
    assert TOKEN not in caplog.text


def test_login_next_never_leaves_the_site(guarded):
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        token = csrf_of(guarded.get("/login").data)  # a login starts a new session, with a new token
        response = guarded.post("/login", data={"csrf_token": token, "token": TOKEN, "next": target})
        assert response.headers["Location"] == "/", target


def test_browser_writes_to_the_api_need_the_csrf_token_without_auth(app, client):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    cross_site = client.post(f"/api/jobs/{job.id}/cancel", headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 400 and app.store.get(job.id).status == "queued"
    scripted = client.post(f"/api/jobs/{job.id}/cancel")  # curl: no Origin, no cookie to ride on
    assert scripted.status_code == 200


def test_cookies_are_http_only_and_lax_without_tls(client):
    cookie = client.get("/").headers["Set-Cookie"]
    assert cookie.startswith("spoolscribe_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_secret_key_is_generated_once_private_and_shared(env, app):
    first = create_app(app.settings)
    second = create_app(Settings.from_env(env))
    key_file = app.settings.home / "web-secret-key"
    assert first.secret_key == second.secret_key == key_file.read_text()
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_exposed_without_auth_warns(caplog, env):
    open_settings = Settings.from_env(env)
    with caplog.at_level(logging.WARNING, logger="webui.auth"):
        assert warn_if_exposed([("0.0.0.0", 8080)], open_settings)
        assert "0.0.0.0:8080 without authentication" in caplog.text
        assert not warn_if_exposed([("127.0.0.1", 8080), ("::1", 8080), ("localhost", 80), "/run/web.sock"],
                                   open_settings)
        assert not warn_if_exposed([("0.0.0.0", 8080)], Settings.from_env(env, web_token=TOKEN))


def login(client, token: str, address: str = "127.0.0.1"):
    """POST the login form (with its CSRF token) from ``address``; returns the response."""
    environ = {"REMOTE_ADDR": address}
    csrf = csrf_of(client.get("/login", environ_base=environ).data)
    return client.post("/login", data={"csrf_token": csrf, "token": token}, environ_base=environ)


def test_the_sixth_bad_login_within_a_minute_gets_429_and_other_addresses_still_log_in(env, caplog):
    app = create_app(Settings.from_env(env, web_token=TOKEN))
    attacker, person = app.test_client(), app.test_client()
    assert [login(attacker, f"guess-{n}", "192.0.2.7").status_code for n in range(5)] == [401] * 5
    refused = login(attacker, TOKEN, "192.0.2.7")
    assert refused.status_code == 429 and 55 <= int(refused.headers["Retry-After"]) <= 60, "not even checked"
    assert b"Too many failed attempts from 192.0.2.7" in refused.data
    assert login(person, TOKEN, "198.51.100.4").status_code == 302
    assert person.get("/api/jobs").status_code == 200
    assert caplog.text.count("failed login or token from 192.0.2.7") == 5 and TOKEN not in caplog.text


def test_bad_bearer_tokens_are_throttled_per_address_and_behind_a_local_proxy_per_forwarded_address(guarded):
    def bearer(token: str, peer: str, forwarded: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {token}", **({"X-Forwarded-For": forwarded} if forwarded else {})}
        return guarded.get("/api/jobs", headers=headers, environ_base={"REMOTE_ADDR": peer}).status_code

    assert [bearer("x" * 16, "127.0.0.1", "203.0.113.9") for _ in range(6)] == [401] * 5 + [429]
    assert bearer(TOKEN, "127.0.0.1", "10.1.2.3, 203.0.113.10") == 200, "another client behind the same proxy"
    assert bearer(TOKEN, "127.0.0.1", "203.0.113.9") == 429
    assert [bearer("x" * 16, "192.0.2.8", "127.0.0.1") for _ in range(6)][-1] == 429, "only a local proxy is believed"
    assert bearer(TOKEN, "192.0.2.9") == 200
    answer = guarded.get("/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"},
                         environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert answer.status_code == 429 and "try again in" in answer.json["error"] and answer.headers["Retry-After"]


def test_blocks_double_and_are_forgotten_after_an_hour_without_failures():
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    for block in (60, 120, 240):
        for _ in range(5):
            assert throttle.wait("a") == 0
            throttle.failed("a")
        assert throttle.wait("a") == block and throttle.wait("b") == 0
        now[0] += block + 1
    throttle.failed("a")
    now[0] += 3601
    for _ in range(5):
        throttle.failed("a")
    assert throttle.wait("a") == 60, "an hour without failures starts afresh"
    throttle.succeeded("a")
    assert throttle.wait("a") == 0


def test_client_address_believes_only_a_loopback_proxy():
    assert client_address("127.0.0.1", "198.51.100.1, 203.0.113.5") == "203.0.113.5"
    assert client_address("::1", " 2001:db8::1 ") == "2001:db8::1"
    assert client_address("127.0.0.1", "not-an-address") == "127.0.0.1"
    assert client_address("192.0.2.1", "203.0.113.5") == "192.0.2.1"
    assert client_address("127.0.0.1", None) == "127.0.0.1"


def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_is_refused(env, app):
    web = create_app(Settings.from_env(env, web_token=TOKEN))
    browser = web.test_client()
    assert login(browser, TOKEN).status_code == 302
    copied = browser.get_cookie("spoolscribe_session").value
    assert browser.get("/api/jobs").status_code == 200
    csrf = csrf_of(browser.get("/").data)
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert list((app.settings.home / "web-sessions").iterdir()) == [], "the login's file is gone"

    replay = web.test_client()
    replay.set_cookie("spoolscribe_session", copied)
    assert replay.get("/api/jobs").status_code == 401
    assert replay.get("/").headers["Location"].startswith("/login")
    assert login(replay, TOKEN).status_code == 302 and replay.get("/").status_code == 200, "a new login works"


def test_expired_or_forged_session_ids_are_refused(tmp_path):
    store = SessionStore(tmp_path / "web-sessions", lifetime=60)
    session_id = store.create()
    assert store.valid(session_id) and (tmp_path / "web-sessions" / session_id).stat().st_mode & 0o777 == 0o600
    for forged in ("../web-secret-key", "", None, 42, session_id[:-1], session_id + "/"):
        assert not store.valid(forged)
        store.end(forged)
    old = tmp_path / "web-sessions" / session_id
    os.utime(old, (time.time() - 61, time.time() - 61))
    assert not store.valid(session_id)
    store.create()
    assert not old.exists(), "a login sweeps expired ones"


def test_a_short_token_is_refused_with_the_setting_named(env):
    with pytest.raises(SettingsError, match="SPOOLSCRIBE_WEB_TOKEN must be at least 16 characters, got 15"):
        Settings.from_env(env, web_token="x" * 15)


@pytest.mark.slow
def test_spoolscribe_web_refuses_to_start_with_a_short_token(cli):
    done = cli("web", "--bind", "127.0.0.1:0", timeout=60, extra_env={"SPOOLSCRIBE_WEB_TOKEN": "hunter2"})
    assert done.returncode != 0
    assert "SPOOLSCRIBE_WEB_TOKEN must be at least 16 characters, got 7" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr


class LoopbackBrowser:
    """A cookie-keeping HTTP client of a live server that connects from ``source`` (a loopback address)."""

    def __init__(self, url: str, source: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.source, self.cookie = parts.hostname, parts.port, source, ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30, source_address=(self.source, 0))
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=urlencode(form) if form is not None else None, headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, dict(response.getheaders()), body

    def login(self, token: str) -> tuple[int, dict, bytes]:
        csrf = csrf_of(self.request("GET", "/login")[2])
        return self.request("POST", "/login", {"csrf_token": csrf, "token": token})


@pytest.mark.slow
def test_live_throttle_and_logout_on_gunicorn(web_server):
    web = web_server("--workers", "1", extra_env={"SPOOLSCRIBE_WEB_TOKEN": TOKEN})  # the throttle is per worker
    attacker, person = LoopbackBrowser(web.url, "127.0.0.2"), LoopbackBrowser(web.url, "127.0.0.1")
    assert [attacker.login(f"guess-{n}")[0] for n in range(5)] == [401] * 5
    status, headers, _ = attacker.login(TOKEN)
    assert status == 429 and int(headers["Retry-After"]) > 0
    assert person.login(TOKEN)[0] == 302 and person.request("GET", "/api/jobs")[0] == 200

    copied = person.cookie
    csrf = csrf_of(person.request("GET", "/")[2])
    assert person.request("POST", "/logout", {"csrf_token": csrf})[0] == 302
    replay = LoopbackBrowser(web.url, "127.0.0.1")
    replay.cookie = copied
    assert replay.request("GET", "/api/jobs")[0] == 401 and replay.request("GET", "/")[0] == 302
    assert TOKEN not in web.log_path.read_text()
