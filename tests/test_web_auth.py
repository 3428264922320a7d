"""Access control: the shared token (bearer for the API, login for the pages), CSRF, cookies,
and the warning for an exposed web without authentication."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from runner.core.options import JobOptions
from runner.core.settings import Settings
from runner.jobs.submit import submit_path
from webui import create_app
from webui.auth import warn_if_exposed

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
