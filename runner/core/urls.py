"""URLs people give spoolscribe (webhook and callback URLs): checking them, and showing them
without the secrets they may carry."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_CHARS = 2000


def check_url(url: str) -> str:
    """``url`` stripped, if it is an absolute ``http``/``https`` URL with a host, without spaces,
    of at most 2000 characters.

    Raises:
        ValueError: it is not; the message says why.
    """
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"the callback URL is longer than {MAX_URL_CHARS} characters")
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"the callback URL must be an http:// or https:// URL with a host, got {url[:80]!r}")
    return url


def display_url(url: str) -> str:
    """``url`` without credentials, query or fragment (which may hold secrets): for logs and pages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
