"""URLs people give spoolscribe (webhook and callback URLs): parsing them into everything they are
used for (scheme, host, port, request path, credentials), deciding whether their address may be
called, and showing them without the secrets they may carry.

A URL is parsed once, whole, when it is accepted (``check_url``) and again when it is used
(``parse_url``): a value stored by an older version that no longer parses is shown as unusable
(``display_url`` never raises) and its webhook fails once with that reason.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

MAX_URL_CHARS = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_URL_SAFE = "/?:@!$&'()*+,;=-._~%"  # kept as they are in the request line; other characters are %-encoded
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """Where a URL sends a request: ``scheme`` (``http``/``https``), ``host`` (an ASCII host name,
    IDNA-encoded, or an IP address without brackets), ``port`` (1-65535), ``path`` (path and query,
    for the request line; ``/`` at least) and ``authorization`` (the ``Authorization: Basic`` value
    made from the URL's ``user:password@``, or None)."""

    scheme: str
    host: str
    port: int
    path: str
    authorization: str | None = field(default=None, repr=False)

    @property
    def address(self) -> IPAddress | None:
        """The host as an IP address when the URL names one literally, else None."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_url(url: str) -> Target:
    """Parse an absolute ``http``/``https`` URL (surrounding spaces stripped) into its ``Target``.

    Raises:
        ValueError: longer than 2000 characters, a control character or space in it, another
            scheme, no host or an invalid one, a port outside 1-65535; the message says which
            (and never repeats the URL, which may hold a password).
    """
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F or c.isspace() for c in url):
        raise ValueError("the URL contains a space or a control character")
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("the URL must start with http:// or https://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the URL's port must be a number from 1 to 65535") from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the URL's port must be a number from 1 to 65535")
    host = _host(parts.hostname or "")
    authorization = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_URL_SAFE)
    return Target(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], path, authorization)


def _host(hostname: str) -> str:
    """The host name IDNA-encoded (or an IP address) as it goes into a connection and a Host header."""
    if not hostname:
        raise ValueError("the URL has no host")
    try:
        return str(ipaddress.ip_address(hostname))
    except ValueError:
        pass
    try:
        encoded = hostname.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("the URL's host is not a valid host name") from None
    if len(encoded) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in encoded.split(".")):
        raise ValueError("the URL's host is not a valid host name")
    return encoded


def check_url(url: str) -> str:
    """``url`` stripped, once ``parse_url`` accepts it (the form that is stored).

    Raises:
        ValueError: as ``parse_url``.
    """
    parse_url(url)
    return url.strip()


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``address`` unless private addresses are allowed (``"a
    loopback address"``, ...), or None for a public unicast address. An IPv4 address mapped into
    IPv6 (``::ffff:127.0.0.1``) counts as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for test, reason in (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
                         ("is_link_local", "a link-local address"), ("is_multicast", "a multicast address"),
                         ("is_private", "a private address"), ("is_reserved", "a reserved address")):
        if getattr(address, test):
            return reason
    return None if address.is_global else "a non-public address"


def display_url(url: str) -> str:
    """``url`` without credentials, query or fragment (which may hold secrets), control characters
    escaped: for logs and pages. Never raises: a URL that does not parse is shown as
    ``(unusable URL: <reason>)``."""
    try:
        target = parse_url(url)
    except ValueError as exc:
        return f"(unusable URL: {exc})"
    host = f"[{target.host}]" if ":" in target.host else target.host
    port = "" if target.port == DEFAULT_PORTS[target.scheme] else f":{target.port}"
    return f"{target.scheme}://{host}{port}{target.path.split('?', 1)[0]}"
