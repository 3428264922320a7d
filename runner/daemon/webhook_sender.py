"""Sending completion webhooks from a runner: the ``Dispatcher`` thread claims due deliveries,
POSTs them, records every attempt (``WebhookAttempt``) and schedules a retry with exponential
backoff until ``webhook_retry_seconds`` have passed. A receiver that never answers costs that
thread ``webhook_timeout`` seconds per attempt and never touches the runner's jobs.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from runner.core.schema import WebhookAttempt, WebhookDelivery, WebhookState
from runner.core.settings import Settings
from runner.core.store import utcnow
from runner.core.urls import display_url
from runner.jobs.deliveries import Deliveries
from runner.jobs.webhooks import EVENT, SIGNATURE_HEADER, backoff, signature

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024
LEASE_MARGIN_SECONDS = 30.0
"""An attempt's claim lasts two timeouts (connect, answer) plus this; a runner that dies mid-attempt
leaves the delivery due again after it."""
POLL_SECONDS = 5.0
"""Longest a dispatcher sleeps before looking for due deliveries (another runner's, or retries)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx (following it would turn the POST into a GET)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    """POST ``body`` to ``url``; return (HTTP status or None, None for a 2xx answer or what went wrong).
    ``timeout`` (seconds) bounds the connection and each read; at most 64 KiB of the answer is read."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.build_opener(_NoRedirect()).open(request, timeout=timeout) as response:
            response.read(MAX_ANSWER_BYTES)
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return None, _reason(exc.reason, timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, _reason(exc, timeout)
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def _reason(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(reason) if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"


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
            headers[SIGNATURE_HEADER] = signature(self.settings.webhook_secret, body)
        started, clock = utcnow(), time.monotonic()
        status, error = post(delivery.url, body, headers, self.settings.webhook_timeout)
        self._record(delivery, WebhookAttempt(delivery_id=delivery.id, number=number, started_at=started,
                                              seconds=time.monotonic() - clock, http_status=status, error=error,
                                              runner=self.runner))
        return True

    def _claim(self) -> WebhookDelivery | None:
        now = utcnow()
        lease = now + timedelta(seconds=2 * self.settings.webhook_timeout + LEASE_MARGIN_SECONDS)
        return self.deliveries.claim_due(now, lease)

    def _record(self, delivery: WebhookDelivery, attempt: WebhookAttempt) -> None:
        """Store the attempt and the delivery's new state: delivered, due again after the backoff,
        or failed once the retry time is up. Nothing is stored for a job deleted meanwhile."""
        now = utcnow()
        shown, level = display_url(delivery.url), logging.WARNING if attempt.error else logging.INFO
        if attempt.error is None:
            values: dict[str, Any] = {"state": WebhookState.DELIVERED.value, "next_attempt_at": None, "done_at": now}
            outcome = f"delivered (HTTP {attempt.http_status}, attempt {attempt.number})"
        else:
            retry_at = now + timedelta(seconds=backoff(self.settings, attempt.number))
            if retry_at > delivery.created_at + timedelta(seconds=self.settings.webhook_retry_seconds):
                values = {"state": WebhookState.FAILED.value, "next_attempt_at": None, "done_at": now}
                outcome = f"given up after {attempt.number} attempts ({attempt.error})"
            else:
                values = {"next_attempt_at": retry_at}
                outcome = (f"attempt {attempt.number} failed ({attempt.error}); "
                           f"next in {(retry_at - now).total_seconds():.3g} s")
        if not self.deliveries.record_attempt(attempt, **values):
            return  # deleted with its job
        log.log(level, "runner %s: job %s: webhook to %s %s", self.runner, delivery.job_id, shown, outcome)

    def _until_due(self) -> float:
        """Seconds until the next pending delivery is due (at most ``POLL_SECONDS``)."""
        due = self.deliveries.next_due()
        if due is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(0.05, (due - utcnow()).total_seconds()))
