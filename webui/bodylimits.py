"""Request bodies under load: a bounded number of them read at once, each at a minimum pace.

gunicorn's gthread worker reads a request body in one of its threads, for as long as the client
takes. Without a bound, a dozen clients that send a large ``Content-Length`` and then a byte per
second hold every thread, and ``/healthz`` and the status reads wait behind them. ``BodyLimits``
wraps the WSGI application so that:

* reading an upload's body first takes one of ``slots`` per worker process
  (``SPOOLSCRIBE_WEB_UPLOAD_SLOTS``, fewer than the worker's threads); when none is free the request
  is answered at once with 503 and ``Retry-After`` (as JSON, before the application sees it), so
  requests without a body always find a thread. The slot is taken at the first read: a request
  refused before (401 without credentials) never takes one. An upload is a body that is
  ``multipart/form-data`` (the upload endpoints' files), chunked, or larger than ``SMALL_BODY``
  bytes; a small form or JSON body (a login, a cancel, a segment edit) never waits for a slot;
* every body must keep coming: it must arrive within ``timeout`` seconds plus one second per
  ``min_rate`` bytes (``SPOOLSCRIBE_WEB_BODY_TIMEOUT``, ``SPOOLSCRIBE_WEB_BODY_MIN_RATE``); a read
  that runs late is cut (its socket shut for reading) and the request answered with 408;
* a body not read to its end (refused, cut off, or answered without reading it) is not drained: the
  connection closes (``webui.worker`` closes it at once rather than lingering on a slow client).

Requests without a body (GET, HEAD, a POST without ``Content-Length`` or chunked encoding) pass
untouched. The slots are per process: a server reads ``workers x slots`` uploads at most.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable

from werkzeug.exceptions import RequestTimeout, ServiceUnavailable
from werkzeug.wrappers import Response

RETRY_AFTER = 5  # seconds a client refused for lack of a slot is asked to wait
BUSY = f"the server is receiving as many uploads as it can; try again in {RETRY_AFTER} s"
MIN_CHUNK, MAX_CHUNK = 4096, 65536  # bytes one read asks for (a slow client's reads are small)
WATCH_INTERVAL = 0.5  # seconds between two looks for reads that run late
SMALL_BODY = 16 * 1024  # bytes: a declared body up to this size, not multipart, takes no slot

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def has_body(environ: dict) -> bool:
    """True when the request announces a body: ``Content-Length`` above 0, or chunked encoding."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    length = environ.get("CONTENT_LENGTH", "").strip()
    return bool(length) and length != "0"


def is_upload(environ: dict) -> bool:
    """True when a request's body is an upload that must take a slot: ``multipart/form-data`` (files),
    chunked (no declared size), or a declared ``Content-Length`` above ``SMALL_BODY`` bytes (or not a
    number). A small urlencoded form or JSON body is not."""
    if environ.get("CONTENT_TYPE", "").lower().lstrip().startswith("multipart/"):
        return True
    length = environ.get("CONTENT_LENGTH", "").strip()
    return not length.isdigit() or int(length) > SMALL_BODY


def abandon(body: object) -> None:
    """Mark gunicorn's request body (``wsgi.input``) failed: gunicorn then closes the connection
    instead of draining the rest of the body (``webui.worker`` closes it at once)."""
    if hasattr(body, "failed"):
        body.failed = True


class PacedInput:
    """``wsgi.input`` that takes a slot of ``slots`` at its first read (none when ``slots`` is None:
    a small body) and then keeps the client to a pace: the body must arrive by ``timeout`` seconds
    plus one second per ``min_rate`` bytes after that first read. ``length``: the declared
    ``Content-Length`` (None when chunked).
    ``sock``: the client's socket (gunicorn's ``gunicorn.socket``), which ``cut`` shuts for reading
    when a read runs late (``BodyLimits``' watcher does); None: the pace is checked between reads.

    Reads raise ``ServiceUnavailable`` (503, no slot free) or ``RequestTimeout`` (408, too slow).
    """

    def __init__(self, stream, length: int | None, slots: threading.BoundedSemaphore | None, sock: socket.socket | None,
                 timeout: float, min_rate: int) -> None:
        self.stream, self.length, self.slots, self.sock = stream, length, slots, sock
        self.timeout, self.min_rate = timeout, min_rate
        self.start: float | None = None  # monotonic time the slot was taken
        self.received, self.asked, self.ended, self.was_cut = 0, 0, False, False

    def due(self) -> float | None:
        """Monotonic time by which the read under way must have returned (None: none under way)."""
        if self.start is None or self.asked == 0:
            return None
        return self.start + self.timeout + (self.received + self.asked) / self.min_rate

    def cut(self) -> None:
        """Stop a late read: shut the socket for reading, so that it returns at once."""
        self.was_cut = True
        if self.sock is not None:
            with contextlib.suppress(OSError):  # already closed by the client
                self.sock.shutdown(socket.SHUT_RD)

    def _paced(self, read: Callable[[int], bytes], size: int | None) -> bytes:
        if self.ended:
            return b""
        if self.start is None:
            if self.slots is not None and not self.slots.acquire(blocking=False):
                raise ServiceUnavailable(BUSY, retry_after=RETRY_AFTER)
            self.start = time.monotonic()
        self.asked = self._chunk() if size is None or size < 0 else max(1, min(size, self._chunk()))
        if self.was_cut or time.monotonic() > (self.due() or 0):
            raise self._too_slow()
        try:
            data = read(self.asked)
        except Exception:
            if self.was_cut:
                raise self._too_slow() from None
            raise
        finally:
            self.asked = 0
        if self.was_cut:
            raise self._too_slow()
        self.received += len(data)
        self.ended = not data or (self.length is not None and self.received >= self.length)
        return data

    def _chunk(self) -> int:
        """Bytes to ask for: what this client sends in about half a second, within the bounds."""
        elapsed = time.monotonic() - (self.start or 0)
        return max(MIN_CHUNK, min(MAX_CHUNK, int(self.received / max(elapsed, 0.001) / 2)))

    def _too_slow(self) -> RequestTimeout:
        return RequestTimeout(f"the request body came too slowly (it must arrive within {self.timeout:g} s plus one "
                              f"second per {self.min_rate} bytes); nothing was kept")

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (fewer when large: read again until b""). Raises: ServiceUnavailable, RequestTimeout."""
        return self._paced(self.stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, or its first bytes when long. Raises: ServiceUnavailable, RequestTimeout."""
        return self._paced(self.stream.readline, size)

    def __iter__(self):
        return iter(self.readline, b"")

    def finish(self, original) -> None:
        """After the response: give the slot back, and mark the body of gunicorn (``original``)
        failed when it was not read to its end, so that it is not drained."""
        if self.start is not None and self.slots is not None:
            self.slots.release()
        if not self.ended:
            abandon(original)


class BodyLimits:
    """WSGI middleware: at most ``slots`` uploads read at once in this process, every body paced (see the
    module's description). ``timeout`` in seconds, ``min_rate`` in bytes per second. A watcher
    thread (started with the first body) cuts reads that run late every ``WATCH_INTERVAL`` seconds."""

    def __init__(self, app: WSGIApp, slots: int, timeout: float, min_rate: int) -> None:
        self.app, self.timeout, self.min_rate = app, timeout, min_rate
        self.slots = threading.BoundedSemaphore(slots)
        self.reading: set[PacedInput] = set()
        self.lock = threading.Lock()
        self.watcher: threading.Thread | None = None

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            with self.lock:
                late = [paced for paced in self.reading if (paced.due() or now) < now]
            for paced in late:
                paced.cut()

    def _none_free(self) -> bool:
        if self.slots.acquire(blocking=False):
            self.slots.release()
            return False
        return True

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not has_body(environ):
            return self.app(environ, start_response)
        original = environ["wsgi.input"]
        upload = is_upload(environ)
        if upload and self._none_free():  # the cheap answer to a burst: no request context, no body read
            abandon(original)
            busy = Response(json.dumps({"error": BUSY}), 503, mimetype="application/json",
                            headers={"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"})
            return busy(environ, start_response)
        length = environ.get("CONTENT_LENGTH", "").strip()
        paced = PacedInput(original, int(length) if length.isdigit() else None, self.slots if upload else None,
                           environ.get("gunicorn.socket"), self.timeout, self.min_rate)
        environ["wsgi.input"] = paced
        with self.lock:
            self.reading.add(paced)
            if self.watcher is None:
                self.watcher = threading.Thread(target=self._watch, name="body-pace", daemon=True)
                self.watcher.start()
        try:
            return self.app(environ, start_response)
        finally:  # Flask reads the body while the view runs; the answer no longer needs it
            with self.lock:
                self.reading.discard(paced)
            paced.finish(original)
