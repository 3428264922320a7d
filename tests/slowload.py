"""Slow clients and upload bursts against a live web on loopback, with the latency of reads watched
meanwhile (used by tests/test_web_load.py and bench/slow_clients.py).

Every loop is bounded in count and in time; only the given loopback address is contacted.
"""

from __future__ import annotations

import http.client
import multiprocessing
import select
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

BOUNDARY = "slowload-boundary"
WATCHED = ("/healthz", "/api/jobs")
READ_TIMEOUT = 10.0  # seconds a watched read may take before it counts as failed


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "::1", "localhost"), f"loopback only, not {parts.hostname}"
    return parts.hostname, parts.port or 80


def multipart(name: str, payload: bytes) -> bytes:
    """A multipart/form-data body (boundary ``BOUNDARY``) with ``payload`` as the field ``file``."""
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{BOUNDARY}--\r\n".encode()


def _status(data: bytes) -> int | None:
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def slow_body(url: str, stop: threading.Event, seconds: float, path: str = "/api/jobs",
              declared: int = 1 << 30, head_only: bool = False) -> int | str:
    """POST ``path`` announcing ``declared`` bytes, then send one byte a second until the server
    answers, closes, ``stop`` is set or ``seconds`` pass; with ``head_only``, send the request line
    and then one byte a second of a header that never ends. Returns the status answered, or
    ``"open"`` (still sending at the end) or ``"closed"`` (closed or reset without an answer)."""
    host, port = _address(url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}"
            f"\r\nContent-Length: {declared}\r\n").encode()
    start = head + b"X-Slow: " if head_only else head + b"\r\n" + multipart("slow.wav", b"")[:60]
    deadline = time.monotonic() + seconds
    with socket.create_connection((host, port), timeout=5) as sock:
        try:
            sock.sendall(start)
            while time.monotonic() < deadline and not stop.is_set():
                readable, _, _ = select.select([sock], [], [], 1.0)
                if readable:
                    answer = sock.recv(4096)
                    return _status(answer) or "closed"
                sock.sendall(b"a" if head_only else b"\0")
        except OSError:
            return "closed"
    return "open"


def upload(url: str, body: bytes) -> tuple[int, str | None, float]:
    """POST ``body`` (from ``multipart``) to /api/jobs: (status, Retry-After header, seconds)."""
    host, port = _address(url)
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        connection.request("POST", "/api/jobs", body=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After"), time.monotonic() - started
    except OSError:
        return 0, None, time.monotonic() - started  # 0: reset or refused without an answer
    finally:
        connection.close()


@dataclass
class Watch:
    """Latencies (seconds) of reads of ``WATCHED`` made one after another, and the failures."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float:
        """The slowest read in seconds (a failed read counts as ``READ_TIMEOUT``)."""
        return max(self.latencies + [READ_TIMEOUT] * len(self.failures), default=0.0)

    def summary(self) -> str:
        """``n reads, p50 x ms, max y ms, z failed``."""
        if not self.latencies:
            return f"0 reads, {len(self.failures)} failed"
        return (f"{len(self.latencies)} reads, p50 {statistics.median(self.latencies) * 1000:.0f} ms, "
                f"max {max(self.latencies) * 1000:.0f} ms, {len(self.failures)} failed")


def _watch_loop(url: str, interval: float, limit: int, ready, stop, results) -> None:
    host, port = _address(url)
    watch = Watch()
    ready.set()
    for count in range(limit):
        if stop.is_set():
            break
        path = WATCHED[count % len(WATCHED)]
        started = time.monotonic()
        connection = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                watch.latencies.append(time.monotonic() - started)
            else:
                watch.failures.append(f"{path}: {response.status}")
        except OSError as exc:
            watch.failures.append(f"{path}: {exc!r} after {time.monotonic() - started:.1f} s")
        finally:
            connection.close()
        stop.wait(interval)
    results.put(watch)


@contextmanager
def watching(url: str, interval: float = 0.1, limit: int = 2000) -> Iterator[Watch]:
    """Read ``/healthz`` and ``/api/jobs`` in turn (a new connection each, as a monitor does)
    every ``interval`` seconds while the block runs, at most ``limit`` times. The reads run in a
    process of their own, so that the load's threads do not delay them; the block starts once it
    reads, and the Watch is filled in when the block ends."""
    context = multiprocessing.get_context("spawn")
    ready, stop, results = context.Event(), context.Event(), context.Queue()
    watcher = context.Process(target=_watch_loop, args=(url, interval, limit, ready, stop, results), daemon=True)
    watcher.start()
    if not ready.wait(60):
        raise RuntimeError("the watching process did not start within 60 s")
    watch = Watch()
    try:
        yield watch
    finally:
        stop.set()
        done = results.get(timeout=READ_TIMEOUT + 30)
        watcher.join(10)
        watch.latencies, watch.failures = done.latencies, done.failures


def slow_clients(url: str, count: int, seconds: float, **kwargs) -> tuple[Counter, Watch]:
    """``count`` slow bodies at once for ``seconds`` while reads are watched: (outcomes, watch)."""
    stop = threading.Event()
    with watching(url) as watch, ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(slow_body, url, stop, seconds, **kwargs) for _ in range(count)]
        outcomes = Counter(future.result() for future in futures)
    return outcomes, watch


def burst(url: str, count: int, body: bytes) -> tuple[Counter, Watch, list[str | None], float]:
    """``count`` uploads of ``body`` started together while reads are watched: (statuses, watch,
    the Retry-After of each 503, seconds the slowest upload took)."""
    gate = threading.Barrier(count)

    def one() -> tuple[int, str | None, float]:
        gate.wait(30)
        return upload(url, body)

    with watching(url) as watch, ThreadPoolExecutor(count) as pool:
        results = list(pool.map(lambda _: one(), range(count)))
    statuses = Counter(status for status, _, _ in results)
    return statuses, watch, [retry for status, retry, _ in results if status == 503], max(t for _, _, t in results)


