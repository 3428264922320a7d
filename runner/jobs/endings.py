"""The record of each job ending, made once per ``(job, finished_at)``: the metrics' all-time counters
(jobs finished by status, audio seconds, real-time factor) and the webhook deliveries the ending owes
are written in one transaction.

Whoever sees a job end records it: the runner after performing it, the reaper after failing an
abandoned one, the person who cancels a queued one. Recording twice is harmless (the second does
nothing), and a runner's periodic pass records the endings nobody did (a runner that died just
after ending a job).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from runner.core.db import database_now, retry_when_busy, write_engine
from runner.core.schema import Job, JobEnding
from runner.core.settings import Settings
from runner.core.states import ENDED
from runner.jobs.webhooks import new_deliveries

MISSED_GRACE = timedelta(seconds=60)
"""An ending unrecorded for this long counts as missed (its runner may still be writing a
cancelled job's partial transcript, which the webhook links to)."""
MISSED_WINDOW = timedelta(days=1)
"""How far back the pass for missed endings looks."""


class Endings:
    """Writes of ``JobEnding`` rows, and of the ``WebhookDelivery`` rows each ending owes under
    ``settings``, on the job store's engine."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.settings, self.engine = settings, engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine(engine), expire_on_commit=False)

    @retry_when_busy
    def record(self, job_id: str) -> JobEnding | None:
        """Record the job's current ending and queue its webhook deliveries; return the new record, or
        None when the job is gone, has not ended, or this ending was already recorded.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database cannot be written.
        """
        try:
            with self._write.begin() as session:
                now = database_now(session)
                job = session.get(Job, job_id)
                if job is None or job.status not in ENDED or job.finished_at is None:
                    return None
                if session.scalar(select(JobEnding.id).where(JobEnding.job_id == job.id,
                                                             JobEnding.finished_at == job.finished_at)) is not None:
                    return None
                ending = JobEnding(job_id=job.id, status=job.status, finished_at=job.finished_at,
                                   audio_seconds=job.processed_seconds or 0.0, duration=job.duration,
                                   processing_seconds=_processing_seconds(job.started_at, job.finished_at),
                                   recorded_at=now)
                session.add(ending)
                session.add_all(new_deliveries(self.settings, job, now))
        except IntegrityError:  # another process recorded it at the same moment (databases other than SQLite)
            return None
        return ending

    def record_missed(self, now: datetime | None = None) -> list[str]:
        """Record every ending of the last day that is over a minute old at ``now`` (default: the
        database's clock) and still unrecorded; return the job ids.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database cannot be used.
        """
        now = now or database_now(self.engine)
        unrecorded = ~exists().where(and_(JobEnding.job_id == Job.id, JobEnding.finished_at == Job.finished_at))
        query = select(Job.id).where(Job.status.in_(ENDED), Job.finished_at < now - MISSED_GRACE,
                                     Job.finished_at >= now - MISSED_WINDOW, unrecorded)
        with self._read() as session:
            missed = list(session.scalars(query))
        return [job_id for job_id in missed if self.record(job_id) is not None]


def _processing_seconds(started_at: datetime | None, finished_at: datetime) -> float | None:
    return (finished_at - started_at).total_seconds() if started_at is not None else None
