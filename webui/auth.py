"""Access control: the optional shared secret, the login of the pages, CSRF checks, cookie keys.

With ``SPOOLSCRIBE_WEB_TOKEN`` set, an API request needs ``Authorization: Bearer <token>`` (or the
session of a logged-in browser) and a page needs the login. Form posts always carry a CSRF token
(Flask-WTF); an API request that a browser sends (it carries ``Origin`` or ``Sec-Fetch-Site``)
needs the token in ``X-CSRF-Token`` unless it brings the bearer token. The secret itself is
never logged.
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
    Response,
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
from werkzeug.exceptions import Unauthorized
from wtforms import ValidationError

from runner.core.fsutil import atomic_file
from runner.core.settings import Settings
from webui.services import services

log = logging.getLogger(__name__)

SECRET_KEY_FILE = "web-secret-key"
PUBLIC_ENDPOINTS = frozenset({"static", "auth.login", "api.health"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"

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
        flask_wtf.csrf.CSRFError: a browser's API write without a valid CSRF token (400).
    """
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = services().settings.web_token
    bearer = _bearer()
    if token:
        if bearer is not None:
            if not hmac.compare_digest(bearer.encode(), token.encode()):
                raise _unauthorized("invalid token")
        elif not hmac.compare_digest(session.get("login", ""), _login_mark(_secret(), token)):
            if request.blueprint == "api":
                raise _unauthorized("authentication required: send the header Authorization: Bearer <token>")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.bearer = bearer is not None
    if request.blueprint == "api" and request.method not in SAFE_METHODS and not g.bearer and _from_browser():
        check_csrf(request.headers.get(CSRF_HEADER))
    return None


def authenticated() -> bool:
    """True when a token is configured and this request carries it (bearer) or a logged-in session;
    for what public endpoints (``/healthz``) show only to the operator."""
    token = services().settings.web_token
    if not token:
        return False
    bearer = _bearer()
    if bearer is not None:
        return hmac.compare_digest(bearer.encode(), token.encode())
    return hmac.compare_digest(session.get("login", ""), _login_mark(_secret(), token))


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
    """The login page: one field, the shared token (the form's CSRF token is checked by CSRFProtect)."""
    token = services().settings.web_token
    if not token:
        return redirect(url_for("pages.jobs"))
    next_page = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next_page=next_page, error=None)
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        log.warning("web: failed login from %s", request.remote_addr)
        return render_template("login.html", next_page=next_page, error="That is not the token."), 401
    session.clear()
    session["login"] = _login_mark(_secret(), token)
    session.permanent = True
    return redirect(next_page)


@bp.post("/logout")
def logout() -> Response:
    """Forget this browser's login."""
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
