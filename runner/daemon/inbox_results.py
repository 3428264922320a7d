"""An inbox file's results belong to its newest version: before the job of a version writes its
results or its error file, what the jobs of the file's earlier versions left beside it (or in the
outbox) is removed (``runner.jobs.inbox_versions``), so each file has one result set under the plain
names, and a stale ``talk.wav.error.txt`` goes once a later version succeeds."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from runner.core.settings import Settings
from runner.core.spool import JobFile
from runner.core.store import JobStore
from runner.jobs.inbox_versions import remove_earlier_results
from runner.jobs.outputs import record_outputs
from runner.output.inbox import is_inbox_job, write_error_file

log = logging.getLogger(__name__)


def clear_earlier_versions(settings: Settings, store: JobStore, job: JobFile) -> list[Path]:
    """Remove the results of earlier versions of an inbox job's file; return what was removed
    (nothing for other jobs).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read or written.
    """
    if not is_inbox_job(job) or job.inbox_path is None:
        return []
    return remove_earlier_results(store.engine, job.id, job.inbox_path, settings.outputs_dir)


def leave_error_file(settings: Settings, store: JobStore, job: JobFile, message: str, runner: str) -> Path | None:
    """For a failed inbox job: the earlier versions' results removed, then ``<name>.error.txt`` written
    (``runner.output.inbox.write_error_file``) and recorded as the job's, so that a later version
    removes it in turn; its path, or None (not an inbox job, or it could not be written). Never raises:
    a database problem is logged (the error is on the job anyway)."""
    if not is_inbox_job(job):
        return None
    try:
        clear_earlier_versions(settings, store, job)
    except SQLAlchemyError as exc:
        log.warning("runner %s: job %s: cannot look up earlier versions of %s: %s", runner, job.id,
                    job.inbox_path, exc)
    path = write_error_file(settings, job, message, runner)
    if path is not None:
        try:
            record_outputs(store.engine, job.id, [path])
        except SQLAlchemyError as exc:
            log.warning("runner %s: job %s: cannot record the error file %s: %s", runner, job.id, path, exc)
    return path
