"""Throttling of failed logins and bearer tokens, per client address.

After ``LIMIT`` failures from one address within ``WINDOW`` seconds, the address is refused
(429 with ``Retry-After``) for ``BLOCK`` seconds without its attempts being checked; each further
block doubles (at most ``MAX_BLOCK``) until the address has had no failure for ``FORGET`` seconds.
A success from an address clears its record; other addresses are never affected.

The records live in the memory of one web worker process: with N workers an address gets at most
N x ``LIMIT`` tries before all of them refuse it, and a restarted worker (gunicorn recycles one
every few thousand requests) starts afresh. At most ``MAX_ADDRESSES`` addresses are remembered
(the least recently seen are dropped first).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

LIMIT = 5  # failures ...
WINDOW = 60.0  # ... within this many seconds block an address
BLOCK = 60.0  # seconds of the first block; each next one doubles
MAX_BLOCK = 3600.0
FORGET = 3600.0  # seconds without a failure after which an address starts afresh
MAX_ADDRESSES = 10_000


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)  # monotonic times within WINDOW
    blocks: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class Throttle:
    """Failed attempts per client address (a string); thread-safe. ``clock``: monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.records: OrderedDict[str, _Record] = OrderedDict()
        self.lock = threading.Lock()

    def wait(self, address: str) -> int:
        """Whole seconds until ``address`` may try again (0: it may now)."""
        with self.lock:
            record = self.records.get(address)
            left = record.blocked_until - self.clock() if record else 0.0
        return max(0, int(left + 0.999))

    def failed(self, address: str) -> None:
        """Count a failed attempt of ``address``; the ``LIMIT``-th within ``WINDOW`` blocks it."""
        now = self.clock()
        with self.lock:
            record = self.records.pop(address, None) or _Record()
            if now - record.last_failure > FORGET:
                record = _Record()
            self.records[address] = record  # the most recently seen last
            while len(self.records) > MAX_ADDRESSES:
                self.records.popitem(last=False)
            record.last_failure = now
            record.failures.append(now)
            while record.failures and now - record.failures[0] > WINDOW:
                record.failures.popleft()
            if len(record.failures) >= LIMIT:
                record.failures.clear()
                record.blocked_until = now + min(MAX_BLOCK, BLOCK * 2**record.blocks)
                record.blocks += 1

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        with self.lock:
            self.records.pop(address, None)


def client_address(remote_addr: str | None, forwarded_for: str | None) -> str:
    """The address to throttle: the peer's, or, when the peer is a proxy on loopback (nginx, as the
    README sets it up), the last address of its ``X-Forwarded-For`` (the one the proxy saw).
    Anything in the header that is not an IP address is ignored."""
    peer = remote_addr or ""
    try:
        proxied = ipaddress.ip_address(peer).is_loopback and bool(forwarded_for)
    except ValueError:
        return peer
    if proxied:
        last = (forwarded_for or "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer
