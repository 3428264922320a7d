"""Retention: when an ended job's files and row go, and the sweep that removes them.

- Media in the spool: ``retention_media_days`` after a succeeded or cancelled job ended,
  ``retention_failed_media_days`` after a failed one (kept longer, for a retry). Once it is gone
  the job can no longer be retried (``Job.media_removed_at``).
- The row and the outputs under ``<home>/outputs``: ``retention_job_days`` after the job ended,
  never before its media's time; by default kept for ever.
- Never removed: an inbox job's source file, results delivered beside inbox files or into the
  outbox, anything of a queued or running job (every removal is conditional on the job's status
  and end time in the database, checked in the same transaction that marks or deletes it).

Every runner sweeps when it starts and every ``retention_interval`` seconds (sweeps are
idempotent); ``spoolscribe purge`` sweeps on demand, optionally with another age.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from runner.core.errors import JobNotFound, JobStateError
from runner.core.schema import Job
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.states import ENDED, JobStatus
from runner.core.store import JobStore
from runner.jobs.files import remove_job_files, remove_media
from runner.jobs.once import forget_deleted

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
FAILED = frozenset({JobStatus.FAILED})
NOT_FAILED = ENDED - FAILED
"""The two groups of ended jobs: each group's statuses share their retention days (failed ones'
media is kept ``retention_failed_media_days``, the others' ``retention_media_days``)."""


@dataclass(frozen=True)
class Lifetime:
    """When an ended job's files go (naive UTC): ``media_until`` for its media in the spool (None:
    kept, already removed, or the job has not ended), ``media_removed_at`` when retention removed
    it, ``job_until`` for its row and outputs (None: kept)."""

    media_until: datetime | None
    media_removed_at: datetime | None
    job_until: datetime | None


def media_days(settings: Settings, status: JobStatus) -> float:
    """Days the media of a job that ended with ``status`` is kept (0: for ever)."""
    return settings.retention_failed_media_days if status in FAILED else settings.retention_media_days


def job_days(settings: Settings, status: JobStatus) -> float:
    """Days the row and outputs of a job that ended with ``status`` are kept (0: for ever); never
    fewer than its media's."""
    if settings.retention_job_days <= 0:
        return 0.0
    return max(settings.retention_job_days, media_days(settings, status))


def lifetime(job: Job, settings: Settings) -> Lifetime:
    """When ``job``'s files will go under ``settings``."""
    if job.status not in ENDED or job.finished_at is None:
        return Lifetime(None, job.media_removed_at, None)
    media, whole = media_days(settings, job.status), job_days(settings, job.status)
    return Lifetime(job.finished_at + media * DAY if media > 0 and job.media_removed_at is None else None,
                    job.media_removed_at, job.finished_at + whole * DAY if whole > 0 else None)


@dataclass(frozen=True)
class Purged:
    """One thing a sweep removed (or, in a dry run, would remove): a whole job (``what == "job"``:
    row, media, outputs) or only its media (``"media"``); ``paths`` are the files and directories."""

    what: str
    job_id: str
    file_name: str
    finished_at: datetime
    paths: tuple[Path, ...]


def sweep(store: JobStore, spool: Spool, settings: Settings, actor: str, *, now: datetime | None = None,
          older_than: timedelta | None = None, dry_run: bool = False) -> list[Purged]:
    """Remove what the retention settings say is due at ``now`` (default: the database's clock, so
    every host agrees on an age): whole jobs, then the media of others. ``older_than`` replaces
    ``retention_job_days`` for this sweep: every ended job (row, media, outputs) that ended longer ago
    than that goes, whatever its status. ``actor`` names the
    sweeper in log lines. With ``dry_run`` nothing changes and the list says what would go.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be used.
    """
    now = now or store.now()
    if older_than is not None:
        cutoffs = {ENDED: now - older_than}
    else:
        cutoffs = {statuses: now - days * DAY for statuses in (FAILED, NOT_FAILED)
                   if (days := job_days(settings, min(statuses))) > 0}
    purged = [item for statuses, cutoff in cutoffs.items()
              for job in _ended_before(store, statuses, cutoff, media_kept=False)
              if (item := _delete_job(store, spool, settings, job, cutoff, dry_run, actor))]
    gone = {item.job_id for item in purged}
    for statuses in (FAILED, NOT_FAILED):
        days = media_days(settings, min(statuses))
        if days <= 0:
            continue
        for job in _ended_before(store, statuses, now - days * DAY, media_kept=True):
            if job.id not in gone and (item := _remove_media(store, spool, job, statuses, now - days * DAY,
                                                             dry_run, actor)):
                purged.append(item)
    if not dry_run:
        forget_deleted(store, settings.home)  # the compat APIs' request keys of deleted jobs
    return purged


def _ended_before(store: JobStore, statuses: frozenset[JobStatus], cutoff: datetime, media_kept: bool) -> list[Job]:
    query = select(Job).where(Job.status.in_(statuses), Job.finished_at < cutoff).order_by(Job.finished_at)
    if media_kept:
        query = query.where(Job.media_removed_at.is_(None))
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


def _delete_job(store: JobStore, spool: Spool, settings: Settings, job: Job, cutoff: datetime, dry_run: bool,
                actor: str) -> Purged | None:
    assert job.finished_at is not None  # candidates are selected by finished_at < cutoff
    if dry_run:
        paths = [spool.media_path(job.media_path), *map(Path, job.outputs or []), settings.outputs_dir / job.id]
        return Purged("job", job.id, job.original_name, job.finished_at, tuple(p for p in paths if p.exists()))
    try:
        deleted = store.delete(job.id, ended_before=cutoff)
    except (JobNotFound, JobStateError):  # retried, or deleted by someone else, meanwhile
        return None
    removed = remove_job_files(deleted, settings, spool, keep_inbox_results=True)
    log.info("%s: job %s deleted by retention (ended %s; %d files removed)", actor, job.id, job.finished_at,
             len(removed))
    return Purged("job", job.id, job.original_name, job.finished_at, tuple(removed))


def _remove_media(store: JobStore, spool: Spool, job: Job, statuses: frozenset[JobStatus], cutoff: datetime,
                  dry_run: bool, actor: str) -> Purged | None:
    assert job.finished_at is not None  # candidates are selected by finished_at < cutoff
    path = spool.media_path(job.media_path)
    if dry_run:
        return Purged("media", job.id, job.original_name, job.finished_at, (path,) if path.exists() else ())
    if not store.mark_media_removed(job.id, statuses, cutoff):
        return None
    removed = remove_media(job, spool)
    log.info("%s: job %s: media removed by retention (ended %s)", actor, job.id, job.finished_at)
    return Purged("media", job.id, job.original_name, job.finished_at, (removed,) if removed else ())

