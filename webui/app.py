"""Building the Flask application: settings, store and spool, security settings, blueprints,
error pages and JSON errors."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, Response, g, jsonify, render_template, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from runner.core.diskguard import human_bytes
from runner.core.settings import Settings
from runner.core.states import ACTIVE, ENDED, RETRYABLE, JobStatus
from runner.core.text import printable
from runner.core.transcript import clock
from runner.core.urls import display_url
from runner.jobs.retention import lifetime
from webui import api, auth, pages
from webui.bodylimits import BodyLimits
from webui.editing import StaleEdit
from webui.present import Summary, age, eta_seconds, summarize, when
from webui.services import flask_app, services
from webui.uploads import too_large

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 1 << 20  # any request but an upload (uploads raise it for themselves)
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
JSON_PREFIXES = ("/api/", "/live/", "/healthz", "/metrics")


def build_app(settings: Settings | None = None) -> Flask:
    """See ``webui.create_app``."""
    if settings is None:
        settings = Settings.from_env()
    app = flask_app(__name__, settings)
    app.config.update(
        SECRET_KEY=auth.load_secret_key(settings),
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        SESSION_COOKIE_NAME="spoolscribe_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life: a page left open still works
    )
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)  # auth.guard checks browsers' API writes; uploads check their own token
    csrf.exempt(pages.upload)
    for blueprint in (auth.bp, api.bp, pages.bp):
        app.register_blueprint(blueprint)
    auth.init_app(app, settings)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.wsgi_app = BodyLimits(app.wsgi_app, settings.web_upload_slots,  # type: ignore[method-assign]
                              settings.web_body_timeout, settings.web_body_min_rate)
    app.context_processor(_page_context)
    app.jinja_env.filters.update(clock=clock, age=age, human_bytes=human_bytes, when=when, redacted=display_url,
                                 printable=printable)
    app.jinja_env.globals.update(eta_seconds=eta_seconds, JobStatus=JobStatus, ACTIVE=ACTIVE, ENDED=ENDED,
                                 RETRYABLE=RETRYABLE)
    return app


def _summary() -> Summary:
    if "summary" not in g:
        svc = services()
        g.summary = summarize(svc.store, svc.settings, svc.store.now())
    return g.summary


def _page_context() -> dict:
    settings = services().settings
    return {"summary": _summary, "auth_enabled": bool(settings.web_token), "logged_in": "login" in session,
            "upload_limit": settings.max_upload_bytes, "lifetime": lambda job: lifetime(job, settings),
            "callbacks": settings.webhook_callbacks}


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if request.path.startswith(JSON_PREFIXES) and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def _http_error(exc: HTTPException) -> Response:
    """Errors as ``{"error": message}`` under /api/, /live/ and /healthz, as a page elsewhere."""
    message = exc.description or exc.name
    if isinstance(exc, RequestEntityTooLarge) and message == RequestEntityTooLarge.description:
        message = too_large(services().settings)  # declared Content-Length over the limit
    if isinstance(exc, CSRFError):
        message = (f"the form has expired or did not come from this site ({exc.description}); "
                   "reload the page and try again")
    if request.path.startswith(JSON_PREFIXES):
        current = {"text": exc.text, "version": exc.version} if isinstance(exc, StaleEdit) else {}
        response = jsonify(error=message, **current)
    else:
        response = Response(render_template("error.html", code=exc.code, title=exc.name, message=message))
    response.status_code = exc.code or 500
    response.headers.extend(header for header in exc.get_headers() if header[0].lower() != "content-type")
    return response
