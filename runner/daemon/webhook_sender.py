"""Sending completion webhooks from a runner: the ``Dispatcher`` thread claims due deliveries,
POSTs them, records every attempt (``WebhookAttempt``) and schedules a retry with exponential
backoff until ``webhook_retry_seconds`` have passed; a delivery that can never succeed (a URL that
does not parse, an address callbacks may not reach) fails after its one recorded attempt. A
receiver that never answers costs that thread ``webhook_timeout`` seconds per attempt and never
touches the runner's jobs.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from runner.core.schema import WebhookAttempt, WebhookDelivery, WebhookState
from runner.core.settings import Settings
from runner.core.text import printable
from runner.core.urls import Target, display_url, parse_url, refusal
from runner.jobs.deliveries import Deliveries
from runner.jobs.webhooks import EVENT, SIGNATURE_HEADER, backoff, signature

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024
LEASE_MARGIN_SECONDS = 30.0
"""An attempt's claim lasts two timeouts (connect, answer) plus this; a runner that dies mid-attempt
leaves the delivery due again after it."""
POLL_SECONDS = 5.0
"""Longest a dispatcher sleeps before looking for due deliveries (another runner's, or retries)."""


class Undeliverable(Exception):
    """A delivery that can never succeed (its URL does not parse, or it resolves to an address it
    may not reach): one attempt is recorded with this message and the delivery is failed at once."""


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection for ``host`` that connects to ``address``, resolved and checked before."""

    address = ""

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection, _PinnedHTTP):
    """The same over TLS: the certificate is checked for ``host`` (``HTTPSConnection.connect`` wraps
    the socket ``_PinnedHTTP.connect`` made)."""


def resolve(target: Target, allow_private: bool) -> str:
    """The address to connect to for ``target``: its host resolved once (the connection goes to this
    address, so a second answer of the name cannot switch it).

    Raises:
        Undeliverable: ``allow_private`` is false and an address the name resolves to is not public
            (``runner.core.urls.refusal``).
        OSError: the name does not resolve (socket.gaierror), which may pass: retried.
    """
    found = [str(info[4][0]) for info in socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)]
    if not allow_private:
        for address in found:
            reason = refusal(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                raise Undeliverable(f"{target.host} is {reason} ({address}); callbacks may not reach it "
                                    "(SPOOLSCRIBE_WEBHOOK_ALLOW_PRIVATE)")
    return found[0]


def post(url: str, body: bytes, headers: dict[str, str], timeout: float,
         allow_private: bool = False) -> tuple[int | None, str | None]:
    """POST ``body`` to ``url``; return (HTTP status or None, None for a 2xx answer or what went wrong).

    The URL's ``user:password@`` becomes an ``Authorization: Basic`` header and is left out of the
    request; the host is resolved once and the connection made to that address with the URL's host
    in the Host header (and as the TLS server name). Redirects are not followed (a POST would become
    a GET). ``timeout`` (seconds) bounds the connection and each read; at most 64 KiB of the answer
    is read.

    Raises:
        Undeliverable: the URL does not parse, or (``allow_private`` false) its address is not public.
    """
    try:
        target = parse_url(url)
    except ValueError as exc:
        raise Undeliverable(str(exc)) from None
    if target.authorization:
        headers = {**headers, "Authorization": target.authorization}
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target.host, target.port, timeout=timeout)
    try:
        connection.address = resolve(target, allow_private)
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, _reason(exc, timeout)
    finally:
        connection.close()
    status = response.status
    return status, None if 200 <= status < 300 else f"HTTP {status} {response.reason}".rstrip()


def _reason(reason: BaseException, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(reason).__name__}: {reason}"


class Dispatcher:
    """Sends due webhook deliveries from a thread of its own in a runner process.

    Any number of runners may dispatch at once: a delivery is claimed for the length of one attempt
    (``runner.jobs.deliveries``), so one attempt is made at a time.
    """

    def __init__(self, settings: Settings, engine: Engine, runner: str) -> None:
        self.settings, self.runner = settings, runner
        self.deliveries = Deliveries(engine)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the delivery thread (a daemon thread: it never keeps the process alive)."""
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for due deliveries now (a job just ended)."""
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Stop after the attempt in flight, waiting at most ``timeout`` seconds for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while not self._stop.is_set() and self.deliver_next():
                    pass
                pause = self._until_due()
            except Exception:  # the database went away for a moment: try again later
                log.exception("runner %s: webhook delivery failed", self.runner)
                pause = POLL_SECONDS
            self._wake.wait(pause)
            self._wake.clear()

    def deliver_next(self) -> bool:
        """Claim one due delivery and make one attempt; False when none was due."""
        delivery = self._claim()
        if delivery is None:
            return False
        number = delivery.attempts + 1
        body = delivery.body.encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "spoolscribe-webhook",
                   "X-Spoolscribe-Event": EVENT, "X-Spoolscribe-Delivery": str(delivery.id),
                   "X-Spoolscribe-Attempt": str(number)}
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = signature(self.settings.webhook_secret, body, int(time.time()))
        started, clock, final = self.deliveries.now(), time.monotonic(), False
        allow_private = self.settings.webhook_allow_private or delivery.url == self.settings.webhook_url.strip()
        try:
            status, error = post(delivery.url, body, headers, self.settings.webhook_timeout, allow_private)
        except Undeliverable as exc:
            status, error, final = None, f"not sent: {exc}", True
        self._record(delivery, WebhookAttempt(delivery_id=delivery.id, number=number, started_at=started,
                                              seconds=time.monotonic() - clock, http_status=status, error=error,
                                              runner=self.runner), final)
        return True

    def _claim(self) -> WebhookDelivery | None:
        return self.deliveries.claim_due(2 * self.settings.webhook_timeout + LEASE_MARGIN_SECONDS)

    def _record(self, delivery: WebhookDelivery, attempt: WebhookAttempt, final: bool = False) -> None:
        """Store the attempt and the delivery's new state: delivered, due again after the backoff,
        or failed once the retry time is up (or at once when ``final``: it can never succeed).
        Nothing is stored for a job deleted meanwhile."""
        now = self.deliveries.now()
        shown, level = display_url(delivery.url), logging.WARNING if attempt.error else logging.INFO
        if attempt.error is None:
            values: dict[str, Any] = {"state": WebhookState.DELIVERED.value, "next_attempt_at": None, "done_at": now}
            outcome = f"delivered (HTTP {attempt.http_status}, attempt {attempt.number})"
        else:
            retry_at = now + timedelta(seconds=backoff(self.settings, attempt.number))
            if final or retry_at > delivery.created_at + timedelta(seconds=self.settings.webhook_retry_seconds):
                values = {"state": WebhookState.FAILED.value, "next_attempt_at": None, "done_at": now}
                outcome = f"given up after {attempt.number} attempts ({attempt.error})"
            else:
                values = {"next_attempt_at": retry_at}
                outcome = (f"attempt {attempt.number} failed ({attempt.error}); "
                           f"next in {(retry_at - now).total_seconds():.3g} s")
        if not self.deliveries.record_attempt(attempt, **values):
            return  # deleted with its job
        log.log(level, "runner %s: job %s: webhook to %s %s", self.runner, delivery.job_id, printable(shown),
                printable(outcome))

    def _until_due(self) -> float:
        """Seconds until the next pending delivery is due (at most ``POLL_SECONDS``)."""
        due = self.deliveries.seconds_until_due()
        if due is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(0.05, due))
