"""The job store: every state change of a job, as short transactions on the database.

Every write to the ``jobs`` table is a method here. Each change of state is one conditional
UPDATE whose row count is checked (huey's and rq's rule), so two runners can never both claim a
job, and a runner whose job was cancelled or taken back learns it at its next write; what goes
with a change (a retried job's checkpoint) is written in the same transaction. Objects returned
are detached snapshots.

Every time written or compared comes from the database's clock (``runner.core.db.utc_now`` in the
statement), so runners on hosts whose clocks disagree agree on every lease. On PostgreSQL, a job
delivered to the spool is announced with ``NOTIFY`` (``announce``) to wake runners on other hosts.
"""

from __future__ import annotations

import builtins
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from runner.core.db import database_now, is_postgresql, retry_when_busy, rowcount, utc_now, write_engine
from runner.core.errors import JobNotFound, JobStateError
from runner.core.schema import Job, RunnerRecord, SegmentRecord, SegmentVersion, TranscriptSegment
from runner.core.search import is_spaceless
from runner.core.spool import JobFile
from runner.core.states import ENDED, RETRYABLE, JobStatus
from runner.core.transcript import Segment

JOBS_CHANNEL = "spoolscribe_jobs"
"""The PostgreSQL ``NOTIFY`` channel on which a delivered job's id is announced."""


@dataclass(frozen=True)
class SegmentRow:
    """A segment to persist: ``index`` within the job, times in seconds, words as dicts, its channel
    speaker (``channel N``) and its own language when the job's options give them (else None)."""

    index: int
    start: float
    end: float
    text: str
    words: list[dict[str, Any]]
    speaker: str | None = None
    language: str | None = None


def transcript_complete(job: Job) -> bool:
    """True when a job's checkpoint holds its whole transcript: it was transcribed to the end of its
    audio (``processed_seconds`` reached ``duration``), whatever happened after (writing the outputs)."""
    return bool(job.duration) and (job.processed_seconds or 0.0) >= (job.duration or 0.0)


def index_rows(job_id: str, segments: Sequence[Segment],
               versions: dict[int, int] | None = None) -> list[TranscriptSegment]:
    """The search index's rows of a job's transcript ``segments`` (``versions``: segment index to
    its last edit's number, for a rebuilt index; 0 otherwise)."""
    versions = versions or {}
    return [TranscriptSegment(job_id=job_id, index=number, start=segment.start, end=segment.end,
                              speaker=segment.speaker, text=segment.text, spaceless=is_spaceless(segment.text),
                              version=versions.get(number, 0))
            for number, segment in enumerate(segments)]


def replace_index(session: Session, job_id: str, segments: Sequence[Segment],
                  versions: dict[int, int] | None = None) -> None:
    """Put ``segments`` in the search index as job ``job_id``'s, in ``session``'s transaction, in
    place of the rows it had (``versions``: as for ``index_rows``)."""
    session.execute(delete(TranscriptSegment).where(TranscriptSegment.job_id == job_id))
    session.add_all(index_rows(job_id, segments, versions))


@dataclass(frozen=True)
class Cancelled:
    """A job just cancelled, and whether it was running (its runner then stops at the next segment,
    keeps the partial transcript and records the ending)."""

    job: Job
    was_running: bool


class JobStore:
    """Reads and state changes of jobs and runners on one database engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine(engine), expire_on_commit=False)

    # -- reads ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The database's clock now (naive UTC): the clock every stored time comes from."""
        return database_now(self.engine)

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self._read() as session:
            return session.get(Job, job_id)

    def list(self, status: JobStatus | None = None, limit: int = 50, before: str | None = None) -> list[Job]:
        """Jobs newest first; optionally of one status and with ids below ``before`` (paging)."""
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if status:
            query = query.where(Job.status == status)
        if before:
            query = query.where(Job.id < before)
        with self._read() as session:
            return list(session.scalars(query))

    def counts(self) -> dict[JobStatus, int]:
        """Number of jobs in each status (every status present in life order, zero when none)."""
        with self._read() as session:
            rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
        counts = dict.fromkeys(JobStatus, 0)
        counts.update(dict(rows))
        return counts

    def segments(self, job_id: str) -> builtins.list[SegmentRecord]:
        """The job's persisted segments in order."""
        with self._read() as session:
            query = select(SegmentRecord).where(SegmentRecord.job_id == job_id).order_by(SegmentRecord.index)
            return list(session.scalars(query))

    def expired_leases(self, held_by: str | None = None) -> builtins.list[Job]:
        """Running jobs whose lease ended before now (the database's clock), and those held by runner
        ``held_by`` (a runner starting under a name finds that name's earlier jobs abandoned)."""
        query = select(Job).where(Job.status == JobStatus.RUNNING,
                                  or_(Job.lease_expires_at < utc_now(), Job.runner == held_by))
        with self._read() as session:
            return list(session.scalars(query))

    def queued_before(self, age: float) -> builtins.list[Job]:
        """Queued jobs created more than ``age`` seconds ago (the database's clock), oldest first."""
        query = select(Job).where(Job.status == JobStatus.QUEUED, Job.created_at < utc_now(-age)).order_by(Job.id)
        with self._read() as session:
            return list(session.scalars(query))

    def runners(self) -> builtins.list[RunnerRecord]:
        """Every runner that has reported, most recent heartbeat first."""
        with self._read() as session:
            return list(session.scalars(select(RunnerRecord).order_by(RunnerRecord.heartbeat_at.desc())))

    # -- submission -------------------------------------------------------------------------------

    @retry_when_busy
    def add(self, job_file: JobFile, callback_url: str | None = None) -> Job:
        """Record a new queued job from its job file (and the URL of its completion webhook); return it."""
        job = Job(
            id=job_file.id,
            status=JobStatus.QUEUED,
            source=job_file.source,
            original_name=job_file.original_name,
            media_path=job_file.media,
            inbox_path=job_file.inbox_path,
            options=job_file.options.to_dict(),
            progress=0.0,
            processed_seconds=0.0,
            attempts=0,
            warnings=[],
            outputs=[],
            callback_url=callback_url,
        )
        with self._write.begin() as session:
            job.created_at = database_now(session)
            session.add(job)
        return job

    def announce(self, job_id: str) -> None:
        """Tell waiting runners (on any host) that job ``job_id`` was just delivered to the spool:
        ``NOTIFY`` on ``JOBS_CHANNEL`` on PostgreSQL; nothing on SQLite (one host: file events do it).
        Called once the job file is in ``new/``, never before (a runner woken earlier finds nothing)."""
        if is_postgresql(self.engine):
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_notify(:channel, :job_id)"), {"channel": JOBS_CHANNEL, "job_id": job_id})

    # -- the runner's side ------------------------------------------------------------------------

    def claim(self, job_id: str, runner: str, lease_seconds: float, device: str | None = None) -> bool:
        """Mark a queued job running for ``runner`` (which computes on ``device``, e.g. ``cpu int8``)
        with a lease of ``lease_seconds`` from now on the database's clock; False if it is not queued."""
        return self._update(
            (Job.id == job_id, Job.status == JobStatus.QUEUED),
            status=JobStatus.RUNNING,
            runner=runner,
            device=device,
            attempts=Job.attempts + 1,
            started_at=utc_now(),
            finished_at=None,
            error=None,
            stage="decoding",
            lease_expires_at=utc_now(lease_seconds),
        )

    def _owned(self, job_id: str, runner: str) -> tuple[Any, ...]:
        return (Job.id == job_id, Job.status == JobStatus.RUNNING, Job.runner == runner)

    def extend_lease(self, job_id: str, runner: str, lease_seconds: float) -> bool:
        """Push the lease of ``runner``'s running job to now + ``lease_seconds`` (the database's clock);
        False if not held."""
        return self._update(self._owned(job_id, runner), lease_expires_at=utc_now(lease_seconds))

    @retry_when_busy
    def record_progress(
        self, job_id: str, runner: str, segments: Sequence[SegmentRow] = (), **fields: Any
    ) -> bool:
        """Persist new segments and progress fields of a job ``runner`` holds, in one transaction.

        ``fields`` are Job columns (stage, progress, processed_seconds, duration, language, ...).
        Returns False, writing nothing, when the job is no longer the runner's (cancelled or reaped).
        """
        with self._write.begin() as session:
            result = session.execute(update(Job).where(*self._owned(job_id, runner)).values(**fields))
            if rowcount(result) != 1:
                return False
            session.add_all(
                SegmentRecord(job_id=job_id, index=s.index, start=s.start, end=s.end, text=s.text, words=s.words,
                              speaker=s.speaker, language=s.language)
                for s in segments
            )
        return True

    def finish(self, job_id: str, runner: str, status: JobStatus, **fields: Any) -> bool:
        """End a job ``runner`` holds with ``status`` (and fields such as error, warnings, outputs)."""
        return self._update(
            self._owned(job_id, runner),
            status=status,
            finished_at=utc_now(),
            lease_expires_at=None,
            stage=None,
            **fields,
        )

    @retry_when_busy
    def succeed(self, job_id: str, runner: str, segments: Sequence[Segment], **fields: Any) -> bool:
        """End a job ``runner`` holds as succeeded (with fields such as outputs, warnings) and put
        its transcript's ``segments`` (as its outputs hold them) in the search index, in one
        transaction; False, writing nothing, when the job is no longer the runner's."""
        with self._write.begin() as session:
            result = session.execute(update(Job).where(*self._owned(job_id, runner)).values(
                status=JobStatus.SUCCEEDED, finished_at=utc_now(), lease_expires_at=None, stage=None, **fields))
            if rowcount(result) != 1:
                return False
            replace_index(session, job_id, segments)
        return True

    def release(self, job_id: str, runner: str) -> bool:
        """Hand a job ``runner`` holds back to the queue, keeping its checkpoint and attempts."""
        return self._update(self._owned(job_id, runner), status=JobStatus.QUEUED,
                            lease_expires_at=None, stage=None)

    def end_abandoned(self, job_id: str, runner: str | None, lease_expires_at: datetime | None,
                      error: str | None = None) -> bool:
        """Take back a job whose lease expired: fail it with ``error`` if given, else queue it again.

        Conditional on the job still being running under the same runner and lease, so a late
        heartbeat and two reapers cannot both act on it.
        """
        where = (Job.id == job_id, Job.status == JobStatus.RUNNING, Job.runner == runner,
                 Job.lease_expires_at == lease_expires_at)
        if error is None:
            return self._update(where, status=JobStatus.QUEUED, lease_expires_at=None, stage=None)
        return self._update(where, status=JobStatus.FAILED, lease_expires_at=None, stage=None,
                            error=error, finished_at=utc_now())

    def reject(self, job_id: str, error: str) -> bool:
        """End a queued job whose job file a runner rejected: failed with ``error`` (once: True only
        for the call that changed it), so it is not re-delivered for ever."""
        return self._update((Job.id == job_id, Job.status == JobStatus.QUEUED.value), status=JobStatus.FAILED.value,
                            error=error, finished_at=utc_now(), lease_expires_at=None, stage=None)

    def finished_while_running(self, job_id: str, **fields: Any) -> bool:
        """Update fields of a job that ended while its runner still worked (a cancelled job's outputs)."""
        return self._update((Job.id == job_id, Job.status.in_(ENDED)), **fields)

    @retry_when_busy
    def heartbeat(self, name: str, state: str, job_id: str | None, started_at: datetime,
                  hostname: str | None = None) -> None:
        """Record that runner ``name`` on host ``hostname`` (default: this one's name) is alive (at the
        database's time), in ``state``, working on ``job_id``."""
        with self._write.begin() as session:
            record = session.get(RunnerRecord, name)
            if record is None:
                record = RunnerRecord(name=name, started_at=started_at)
                session.add(record)
            record.pid, record.hostname = os.getpid(), hostname or socket.gethostname()
            record.state, record.job_id, record.heartbeat_at = state, job_id, utc_now()
            if record.started_at != started_at:
                record.started_at = started_at

    # -- people's actions -------------------------------------------------------------------------

    def cancel(self, job_id: str, reason: str = "cancelled by request") -> Cancelled:
        """Cancel a queued or running job (a runner stops it at its next segment); ``reason`` becomes
        its error and its stage is cleared (nothing runs on it any more). Whether it was running says
        who records its ending: the runner that ran it, or the caller.

        Raises:
            JobNotFound: no such job.
            JobStateError: the job has already ended.
        """
        # One conditional update for each state it may be in; the second RUNNING catches a job claimed
        # between the first two, so the answer is exact without a lock.
        for status in (JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.RUNNING):
            changed = self._update((Job.id == job_id, Job.status == status), status=JobStatus.CANCELLED,
                                   finished_at=utc_now(), lease_expires_at=None, stage=None, error=reason)
            if changed:
                break
        return Cancelled(self._after_change(job_id, changed, "only a queued or running job can be cancelled"),
                         was_running=status == JobStatus.RUNNING)

    @retry_when_busy
    def requeue(self, job_id: str) -> Job:
        """Put a failed or cancelled job back in the queue (the caller re-delivers it): from the start,
        or, when its checkpoint holds the whole transcript (it failed while writing the outputs), with
        that transcript kept so that the runner only renders it again. The state and the checkpoint
        change in one transaction, so either both change or neither does.

        Raises:
            JobNotFound: no such job.
            JobStateError: the job is not failed or cancelled, or retention has deleted its media.
            sqlalchemy.exc.SQLAlchemyError: the database refused the change (the job is unchanged).
        """
        retryable = (Job.id == job_id, Job.status.in_(RETRYABLE), Job.media_removed_at.is_(None))
        current = self.get(job_id)
        transcribed = current is not None and current.status == JobStatus.FAILED and transcript_complete(current)
        kept = {"progress": current.progress, "processed_seconds": current.processed_seconds} \
            if transcribed and current is not None else {"progress": 0.0, "processed_seconds": 0.0}
        with self._write.begin() as session:
            changed = rowcount(session.execute(update(Job).where(*retryable).values(
                status=JobStatus.QUEUED, error=None, warnings=[], outputs=[], stage=None, started_at=None,
                finished_at=None, attempts=0, **kept))) == 1
            if changed and not transcribed:
                session.execute(delete(SegmentRecord).where(SegmentRecord.job_id == job_id))
        return self._after_change(job_id, changed, "only a failed or cancelled job can be retried")

    def mark_media_removed(self, job_id: str, statuses: frozenset[JobStatus], ended_before: datetime) -> bool:
        """Record (at the database's time) that the job's media is removed, if it is still in one of ``statuses``,
        ended before ``ended_before`` and its media not yet marked; from then on no retry can queue
        it, so the file may go. False (nothing written) otherwise."""
        return self._update((Job.id == job_id, Job.status.in_(statuses), Job.finished_at < ended_before,
                             Job.media_removed_at.is_(None)), media_removed_at=utc_now())

    @retry_when_busy
    def delete(self, job_id: str, ended_before: datetime | None = None) -> Job:
        """Delete an ended job's row (its segments, its transcript in the search index, its edits and
        webhook deliveries) if, given
        ``ended_before``, it ended before then; return the old row.

        Raises:
            JobNotFound: no such job.
            JobStateError: the job is queued or running (cancel it first), or ended since ``ended_before``.
        """
        with self._write.begin() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise JobNotFound(job_id)
            if job.status not in ENDED:
                raise JobStateError(f"job {job_id} is {job.status}; cancel it before deleting it")
            if ended_before is not None and (job.finished_at is None or job.finished_at >= ended_before):
                raise JobStateError(f"job {job_id} ended at {job.finished_at}, not before {ended_before}")
            for table in (SegmentRecord, TranscriptSegment, SegmentVersion):
                session.execute(delete(table).where(table.job_id == job_id))
            session.delete(job)
        return job

    # -- helpers ---------------------------------------------------------------------------------

    @retry_when_busy
    def _update(self, where: tuple[Any, ...], **values: Any) -> bool:
        with self._write.begin() as session:
            return rowcount(session.execute(update(Job).where(*where).values(**values))) == 1

    def _after_change(self, job_id: str, changed: bool, refusal: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        if not changed:
            raise JobStateError(f"job {job_id} is {job.status}: {refusal}")
        return job
