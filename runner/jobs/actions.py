"""What a person can do to a job, from the web or the command line, under the same rules:
cancel, retry, delete.

Errors are the store's: ``runner.core.errors.JobNotFound`` (no such job) and
``runner.core.errors.JobStateError`` (the job's state does not allow it), with messages that say
what to do instead.
"""

from __future__ import annotations

from runner.core.errors import JobNotFound, JobStateError
from runner.core.schema import Job
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.store import Cancelled, JobStore
from runner.jobs import submit
from runner.jobs.endings import Endings
from runner.jobs.files import media_file, remove_job_files
from runner.jobs.view import iso


def cancel_job(store: JobStore, spool: Spool, settings: Settings, job_id: str,
               reason: str = "cancelled by request") -> Cancelled:
    """Cancel a queued job (withdrawn from the spool at once; its ending is recorded and its
    webhooks queued here) or a running one (its runner stops at the next segment, keeps the
    partial transcript and records the ending). ``reason`` becomes the job's error.

    Raises:
        JobNotFound: no such job.
        JobStateError: the job has already ended.
    """
    cancelled = submit.cancel(store, spool, job_id, reason)
    if not cancelled.was_running:  # no runner will end it
        Endings(store.engine, settings).record(job_id)
    return cancelled


def retry_job(store: JobStore, spool: Spool, job_id: str) -> Job:
    """Queue a failed or cancelled job again from the start, if its media is still in the spool.

    Raises:
        JobNotFound: no such job.
        JobStateError: the job is not failed or cancelled, or its media is gone.
    """
    job = store.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.media_removed_at is not None:
        raise JobStateError(f"job {job.id} cannot be retried: its media was deleted at {iso(job.media_removed_at)} "
                            "(retention, SPOOLSCRIBE_RETENTION_*_DAYS); upload the file again")
    if media_file(job, spool) is None:
        raise JobStateError(f"job {job.id} cannot be retried: its media is no longer in the spool; "
                            "upload the file again")
    return submit.retry(store, spool, job.id)


def delete_job(store: JobStore, spool: Spool, settings: Settings, job_id: str) -> Job:
    """Delete an ended job: its row (in one conditional transaction: never a queued or running
    job), then its media in the spool and its output files. An inbox source stays.

    Raises:
        JobNotFound: no such job.
        JobStateError: the job is queued or running: cancel it first.
    """
    deleted = store.delete(job_id)
    remove_job_files(deleted, settings, spool)
    return deleted
