"""The record of webhook deliveries after they are made with a job's ending (``runner.jobs.endings``):
claiming a due one for an attempt, storing the attempt and the delivery's new state, and when the
next one is due (tables ``webhook_deliveries`` and ``webhook_attempts``). Due times are compared
with the database's clock, so runners on hosts whose clocks disagree take turns correctly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import sessionmaker

from runner.core.db import database_now, retry_when_busy, rowcount, utc_now, write_engine
from runner.core.schema import WebhookAttempt, WebhookDelivery, WebhookState


class Deliveries:
    """Reads and writes of ``WebhookDelivery`` and ``WebhookAttempt`` rows on the job store's engine.

    A delivery is claimed by a conditional UPDATE of its ``next_attempt_at`` (the attempt's lease),
    so any number of runners may dispatch at once and one attempt is made at a time.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine(engine), expire_on_commit=False)

    @retry_when_busy
    def claim_due(self, lease_seconds: float) -> WebhookDelivery | None:
        """Claim the pending delivery due longest before now for ``lease_seconds`` (both on the
        database's clock); return it as it was before the claim, or None when none is due or another
        runner took it."""
        with self._write.begin() as session:
            due = session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.state == WebhookState.PENDING.value, WebhookDelivery.next_attempt_at <= utc_now())
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(1)).first()
            if due is None:
                return None
            claimed = rowcount(session.execute(update(WebhookDelivery).where(
                WebhookDelivery.id == due.id, WebhookDelivery.state == WebhookState.PENDING.value,
                WebhookDelivery.next_attempt_at == due.next_attempt_at).values(next_attempt_at=utc_now(lease_seconds))))
            session.expunge(due)
        return due if claimed == 1 else None

    @retry_when_busy
    def record_attempt(self, attempt: WebhookAttempt, **values: Any) -> bool:
        """Store ``attempt`` and set its pending delivery's ``attempts`` to its number and the other
        ``values`` (state, next_attempt_at, done_at), in one transaction. False, storing nothing,
        when the delivery is gone (deleted with its job)."""
        where = (WebhookDelivery.id == attempt.delivery_id, WebhookDelivery.state == WebhookState.PENDING.value)
        with self._write.begin() as session:
            if session.get(WebhookDelivery, attempt.delivery_id) is None:
                return False
            session.add(attempt)
            session.execute(update(WebhookDelivery).where(*where).values(attempts=attempt.number, **values))
        return True

    def now(self) -> datetime:
        """The database's clock now (naive UTC)."""
        return database_now(self.engine)

    def seconds_until_due(self) -> float | None:
        """Seconds (on the database's clock) until the earliest pending delivery is due, negative when
        overdue, or None when none is pending."""
        with self._read() as session:
            due, now = session.execute(select(func.min(WebhookDelivery.next_attempt_at), utc_now()).where(
                WebhookDelivery.state == WebhookState.PENDING.value)).one()
        return None if due is None else (due - now).total_seconds()
