"""Access control: the optional shared secret, the login of the pages, CSRF checks, cookie keys.

With ``SPOOLSCRIBE_WEB_TOKEN`` set, an API request needs ``Authorization: Bearer <token>`` (or the
session of a logged-in browser) and a page needs the login. Form posts always carry a CSRF token
(Flask-WTF); an API request that a browser sends (it carries ``Origin`` or ``Sec-Fetch-Site``)
needs the token in ``X-CSRF-Token`` unless it brings the bearer token. The secret itself is
never logged.

Failed logins and bearer tokens are throttled per client address (``webui.throttle``: 429 with
``Retry-After`` after 5 failures in a minute); a login is kept on the server (``webui.sessions``),
so that logging out ends it even for a copy of the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized
from werkzeug.wrappers import Response
from wtforms import ValidationError

from runner.core.fsutil import atomic_file
from runner.core.settings import Settings
from webui.services import services
from webui.sessions import SESSIONS_DIR, SessionStore
from webui.throttle import Throttle, client_address

log = logging.getLogger(__name__)

SECRET_KEY_FILE = "web-secret-key"
PUBLIC_ENDPOINTS = frozenset({"static", "auth.login", "api.health"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
THROTTLE_KEY, SESSIONS_KEY = "spoolscribe-throttle", "spoolscribe-sessions"

bp = Blueprint("auth", __name__)


def load_secret_key(settings: Settings) -> str:
    """The key that signs cookies: configured, or generated once into ``<home>/web-secret-key``
    (mode 0600) so that every gunicorn worker and every restart shares it.

    Raises:
        OSError: the file cannot be read or written.
    """
    if settings.web_secret_key:
        return settings.web_secret_key
    path = settings.home / SECRET_KEY_FILE
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_file(path, overwrite=False) as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(secrets.token_hex(32).encode("ascii"))
        except FileExistsError:
            pass  # another worker made it first
    return path.read_text(encoding="ascii").strip()


def init_app(app: Flask, settings: Settings) -> None:
    """Give ``app`` its throttle and its login store, and check every request (``guard``)."""
    app.extensions[THROTTLE_KEY] = Throttle()
    app.extensions[SESSIONS_KEY] = SessionStore(settings.home / SESSIONS_DIR,
                                                app.permanent_session_lifetime.total_seconds())
    app.before_request(guard)


def _throttle() -> Throttle:
    return current_app.extensions[THROTTLE_KEY]


def _sessions() -> SessionStore:
    return current_app.extensions[SESSIONS_KEY]


def _client() -> str:
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"))


def _refuse_if_throttled(client: str) -> None:
    wait = _throttle().wait(client)
    if wait:
        raise TooManyRequests(f"too many failed attempts from {client}; try again in {wait} s", retry_after=wait)


def _check_secret(given: str, token: str) -> bool:
    """Compare a login's or bearer's secret with the token, counting failures against the client.

    Raises:
        werkzeug.exceptions.TooManyRequests: the client failed too often lately (429, unchecked).
    """
    client = _client()
    _refuse_if_throttled(client)
    if hmac.compare_digest(given.encode(), token.encode()):
        _throttle().succeeded(client)
        return True
    _throttle().failed(client)
    log.warning("web: failed login or token from %s", client)
    return False


def _login_mark(secret_key: str, token: str) -> str:
    # Tied to the token: changing SPOOLSCRIBE_WEB_TOKEN logs every browser out.
    return hmac.new(secret_key.encode(), b"login:" + token.encode(), hashlib.sha256).hexdigest()


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _unauthorized(message: str) -> Unauthorized:
    return Unauthorized(message, www_authenticate=WWWAuthenticate("Bearer", {"realm": "spoolscribe"}))


def guard() -> Response | None:
    """Before every request: authenticate (when a token is configured) and check the CSRF token
    of API writes sent by a browser. Returns a redirect to the login page for pages.

    Raises:
        werkzeug.exceptions.Unauthorized: an API request without valid credentials (401).
        werkzeug.exceptions.TooManyRequests: a bearer token from a client that failed too often (429).
        flask_wtf.csrf.CSRFError: a browser's API write without a valid CSRF token (400).
    """
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = services().settings.web_token
    bearer = _bearer()
    if token:
        if bearer is not None:
            if not _check_secret(bearer, token):
                raise _unauthorized("invalid token")
        elif not _logged_in(token):
            if request.blueprint == "api":
                raise _unauthorized("authentication required: send the header Authorization: Bearer <token>")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.bearer = bearer is not None
    if request.blueprint == "api" and request.method not in SAFE_METHODS and not g.bearer and _from_browser():
        check_csrf(request.headers.get(CSRF_HEADER))
    return None


def _logged_in(token: str) -> bool:
    """The session carries this token's login mark and a login that has not ended."""
    return (hmac.compare_digest(session.get("login", ""), _login_mark(_secret(), token))
            and _sessions().valid(session.get("sid")))


def authenticated() -> bool:
    """True when a token is configured and this request carries it (bearer) or a logged-in session;
    for what public endpoints (``/healthz``) show only to the operator."""
    token = services().settings.web_token
    if not token:
        return False
    bearer = _bearer()
    if bearer is not None:
        return hmac.compare_digest(bearer.encode(), token.encode())
    return _logged_in(token)


def _secret() -> str:
    return str(current_app.secret_key)


def _from_browser() -> bool:
    return bool(request.headers.get("Origin") or request.headers.get("Sec-Fetch-Site"))


def check_csrf(value: str | None) -> None:
    """Check a CSRF token taken from a form field or a header.

    Raises:
        flask_wtf.csrf.CSRFError: missing, expired or not this session's (400).
    """
    try:
        validate_csrf(value)
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.jobs")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """The login page: one field, the shared token (the form's CSRF token is checked by CSRFProtect).

    Raises:
        werkzeug.exceptions.TooManyRequests: the client failed too often lately (429).
    """
    token = services().settings.web_token
    if not token:
        return redirect(url_for("pages.jobs"))
    next_page = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next_page=next_page, error=None)
    if not _check_secret(request.form.get("token", ""), token):
        return render_template("login.html", next_page=next_page, error="That is not the token."), 401
    _sessions().end(session.get("sid"))
    session.clear()
    session["login"] = _login_mark(_secret(), token)
    session["sid"] = _sessions().create()
    session.permanent = True
    return redirect(next_page)


@bp.post("/logout")
def logout() -> Response:
    """End this browser's login, on the server too: the cookie no longer works, even a copy."""
    _sessions().end(session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login") if services().settings.web_token else url_for("pages.jobs"))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(addresses: Iterable[tuple[str, int] | str], settings: Settings) -> bool:
    """Log a warning when the web listens beyond loopback without a token; True if it warned.

    ``addresses`` are ``(host, port)`` pairs or Unix socket paths (never a warning: file
    permissions guard those).
    """
    exposed = [f"{a[0]}:{a[1]}" for a in addresses if not isinstance(a, str) and not is_loopback(str(a[0]))]
    if exposed and not settings.web_token:
        log.warning("web: listening on %s without authentication: anyone who can reach it can submit, "
                    "cancel and delete jobs; set SPOOLSCRIBE_WEB_TOKEN", ", ".join(exposed))
        return True
    return False
