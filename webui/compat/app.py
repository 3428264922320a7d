"""Building the compat Flask application: settings, store, spool, the watcher, access control,
blueprints, and every error as OpenAI's JSON error body."""

from __future__ import annotations

import hmac
import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from runner.core.settings import Settings
from runner.jobs.view import job_to_dict
from webui.compat import bazarr, openai_api
from webui.compat.errors import CompatError
from webui.compat.service import WATCHER_KEY
from webui.compat.waiting import Watcher
from webui.services import EXTENSION_KEY, flask_app, services

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset({"bazarr.status"})


def build_app(settings: Settings | None = None) -> Flask:
    """See ``webui.compat.create_app``."""
    if settings is None:
        settings = Settings.from_env()
    app = flask_app(__name__, settings)
    app.extensions[WATCHER_KEY] = Watcher(app.extensions[EXTENSION_KEY].store.engine, settings.compat_max_waiting)
    for blueprint in (bazarr.bp, openai_api.bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/api/jobs/<job_id>", "job", _job)
    app.before_request(_guard)
    app.after_request(_no_store)
    app.register_error_handler(CompatError, lambda exc: exc.response())
    app.register_error_handler(HTTPException, _http_error)
    return app


def _credential() -> str | None:
    """The token a client sent: ``Authorization: Bearer <token>``, or the password of HTTP Basic
    (any user name; Bazarr turns credentials in its endpoint URL into Basic)."""
    auth = request.authorization
    if auth is None:
        return None
    if auth.type == "bearer":
        return auth.token
    return auth.password if auth.type == "basic" else None


def _guard() -> None:
    """With ``SPOOLSCRIBE_WEB_TOKEN`` set, every request but ``/status`` needs the token.

    Raises:
        CompatError: 401 ``invalid_api_key``.
    """
    token = services().settings.web_token
    if not token or request.endpoint in PUBLIC_ENDPOINTS:
        return
    given = _credential()
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        log.warning("compat: refused a request without the right token from %s", request.remote_addr)
        raise CompatError(401, "a valid token is needed: send Authorization: Bearer <token> (or HTTP Basic with "
                               "the token as password)", code="invalid_api_key")


def _job(job_id: str) -> Response:
    """One job (the ``Location`` of a ``Prefer: respond-async`` answer), as the web's API shows it."""
    job = services().store.get(job_id)
    if job is None:
        raise CompatError(404, f"no job {job_id[:40]!r}", param="job_id", code="job_not_found")
    return jsonify(job_to_dict(job))


def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _http_error(exc: HTTPException) -> Response:
    """Werkzeug's errors (404, 405, 413, ...) in the same JSON shape."""
    status = exc.code or 500
    return CompatError(status, exc.description or exc.name, kind="invalid_request_error" if status < 500
                       else "server_error").response()
