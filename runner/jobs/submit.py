"""Submitting jobs: media into the spool, a queued row in the store, then the job file into ``new/``.

The order matters for never losing a job: the media is complete before the row exists, and the
row exists before a runner can see the job file. A crash between the row and the job file leaves
a queued row without a file, which a runner's reaper re-delivers (``Runner.repair_spool``).
Used alike by the CLI, the web upload and the inbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from runner.core.fsutil import check_utf8_path, open_regular
from runner.core.options import JobOptions
from runner.core.schema import Job, JobSource
from runner.core.spool import JobFile, Spool, new_job_id
from runner.core.store import Cancelled, JobStore


def submit_path(
    store: JobStore, spool: Spool, source: Path, options: JobOptions, *,
    kind: JobSource = JobSource.CLI, original_name: str | None = None, inbox_path: str | None = None,
    callback_url: str | None = None,
) -> Job:
    """Deliver a snapshot of the regular file at ``source`` (opened without following a symbolic
    link; reflinked or copied, never hard-linked) as a queued job (``callback_url``: where its
    completion webhook goes besides ``Settings.webhook_url``).

    Raises:
        runner.core.fsutil.UnusableNameError: the name kept is not valid UTF-8.
        runner.core.fsutil.UnsafeFileError: ``source`` is a symbolic link or not a regular file.
        OSError: the source cannot be read or the spool written.
    """
    job_id = new_job_id()
    name = original_name or source.name
    check_utf8_path(name)
    handle, _ = open_regular(source)
    with handle:
        media = spool.store_media_file(job_id, name, handle)
    return queue(store, spool, JobFile(job_id, media, name, kind.value, options, inbox_path), callback_url)


def submit_stream(
    store: JobStore, spool: Spool, stream: BinaryIO, original_name: str, options: JobOptions, *,
    kind: JobSource = JobSource.UPLOAD, limit: int | None = None,
) -> Job:
    """Deliver the bytes of ``stream`` (at most ``limit``) as a queued job.

    Raises:
        ValueError: the stream is longer than ``limit`` bytes (nothing is left in the spool).
        OSError: the spool cannot be written.
    """
    job_id = new_job_id()
    media = spool.store_media_stream(job_id, original_name, stream, limit)
    return queue(store, spool, JobFile(job_id, media, original_name, kind.value, options))


def job_file_of(job: Job) -> JobFile:
    """Rebuild a job's job file from its row (to re-deliver it)."""
    return JobFile(job.id, job.media_path, job.original_name, job.source,
                   JobOptions.from_mapping(job.options), job.inbox_path)


def retry(store: JobStore, spool: Spool, job_id: str) -> Job:
    """Queue a failed or cancelled job again from the start and re-deliver its job file.

    Raises:
        runner.core.errors.JobNotFound: no such job.
        runner.core.errors.JobStateError: the job is not failed or cancelled.
    """
    job = store.requeue(job_id)
    spool.enqueue(job_file_of(job))
    store.announce(job.id)
    return job


def cancel(store: JobStore, spool: Spool, job_id: str, reason: str = "cancelled by request") -> Cancelled:
    """Cancel a queued job (withdrawn from the spool at once) or a running one (its runner stops
    at the next segment and keeps the partial transcript); ``reason`` becomes the job's error.

    Raises:
        runner.core.errors.JobNotFound: no such job.
        runner.core.errors.JobStateError: the job has already ended.
    """
    cancelled = store.cancel(job_id, reason)
    spool.withdraw(job_id)
    return cancelled


def queue(store: JobStore, spool: Spool, job_file: JobFile, callback_url: str | None = None) -> Job:
    """Queue a job whose media is already in the spool: its row, then its job file. If the row
    cannot be added the media is removed (no orphan).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the row cannot be added.
        OSError: the job file cannot be written (the queued row is re-delivered by a runner's reaper).
    """
    try:
        job = store.add(job_file, callback_url)
    except BaseException:
        spool.media_path(job_file.media).unlink(missing_ok=True)  # no orphaned media
        raise
    spool.enqueue(job_file)
    store.announce(job.id)
    return job
