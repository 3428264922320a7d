"""Completion webhooks: a JSON POST to ``Settings.webhook_url`` and to the job's ``callback_url`` when
a job ends, signed with ``X-Spoolscribe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
when ``Settings.webhook_secret`` is set (the time is signed too, so a captured delivery cannot be
replayed later: receivers check it with ``verify_signature``; docs/security.md says how).

Deliveries are rows (``WebhookDelivery``) made together with the job's ending (``runner.jobs.endings``);
each runner's ``Dispatcher`` thread (``runner.daemon.webhook_sender``) sends the due ones. This
module holds what the web and the operator commands share: the payload, its signature, the rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from runner.core.options import FORMATS
from runner.core.schema import Job, WebhookAttempt, WebhookDelivery, WebhookState
from runner.core.settings import Settings
from runner.jobs.view import iso

log = logging.getLogger(__name__)

EVENT = "job.finished"
SIGNATURE_HEADER = "X-Spoolscribe-Signature"
MAX_BACKOFF_SECONDS = 600.0
SIGNATURE_TOLERANCE_SECONDS = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``
    under ``secret``; ``timestamp`` in whole seconds since the epoch (the time of the attempt)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes, now: float,
                     tolerance: float = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver checks: ``header`` (the ``X-Spoolscribe-Signature`` value) carries a time
    within ``tolerance`` seconds of ``now`` (seconds since the epoch) and a ``v1`` HMAC of that time
    and ``body`` under ``secret`` (compared in constant time). False for anything malformed."""
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(fields.get("v1", "").encode("ascii", "replace"),
                               _mac(secret, timestamp, body).encode("ascii"))


def payload(settings: Settings, job: Job) -> dict[str, Any]:
    """The JSON document POSTed for an ended job: id, status, file name, duration (s), language,
    error, times, output paths, and links (``Settings.public_url`` + the web's paths) to the job,
    its page and each transcript format written."""
    base = settings.public_url.rstrip("/")
    written = {Path(path).suffix[1:] for path in job.outputs or []}
    return {
        "event": EVENT,
        "id": job.id,
        "status": job.status,
        "file_name": job.original_name,
        "source": job.source,
        "duration": job.duration,
        "language": job.language,
        "error": job.error,
        "warnings": list(job.warnings or []),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "outputs": list(job.outputs or []),
        "links": {
            "job": f"{base}/api/jobs/{job.id}",
            "page": f"{base}/jobs/{job.id}",
            "transcripts": {fmt: f"{base}/api/jobs/{job.id}/transcript.{fmt}" for fmt in FORMATS if fmt in written},
        },
    }


def new_deliveries(settings: Settings, job: Job, now: datetime) -> list[WebhookDelivery]:
    """The deliveries an ending of ``job`` owes: one per distinct URL of ``webhook_url`` and the
    job's ``callback_url``; none when the ending is older than ``webhook_retry_seconds``."""
    if job.finished_at is None or now - job.finished_at > timedelta(seconds=settings.webhook_retry_seconds):
        return []
    urls = dict.fromkeys(url for url in (settings.webhook_url.strip(), job.callback_url) if url)
    body = json.dumps(payload(settings, job), ensure_ascii=False)
    return [WebhookDelivery(job_id=job.id, job_finished_at=job.finished_at, url=url, body=body,
                            state=WebhookState.PENDING.value, attempts=0, next_attempt_at=now, created_at=now)
            for url in urls]


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed attempts: ``webhook_backoff`` x 2^(attempts-1), at most 10 min."""
    return min(MAX_BACKOFF_SECONDS, settings.webhook_backoff * 2 ** max(0, attempts - 1))


def job_webhooks(engine: Engine, job_id: str) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """A job's deliveries, oldest first, each with its attempts in order (for the job page)."""
    with Session(engine, expire_on_commit=False) as session:
        deliveries = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)
                                          .order_by(WebhookDelivery.id)))
        attempts = list(session.scalars(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id.in_([d.id for d in deliveries])).order_by(WebhookAttempt.id)))
    return [(d, [a for a in attempts if a.delivery_id == d.id]) for d in deliveries]
