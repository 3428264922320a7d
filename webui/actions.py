"""What a person can do to a job from the API or the pages: look it up, cancel, retry, delete.
Errors come out as HTTP exceptions whose descriptions say what to do instead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, Conflict, NotFound

from runner.core.errors import JobNotFound, JobStateError
from runner.core.schema import Job
from runner.core.states import JobStatus
from runner.jobs import actions as jobactions
from webui.services import Services

JOB_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # a ULID, as the spool names jobs


def listing_filter(args: MultiDict) -> tuple[JobStatus | None, str | None]:
    """``(status, before)`` from a query string's ``status`` and ``before`` (None when absent).

    Raises:
        werkzeug.exceptions.BadRequest: an unknown status, or ``before`` is not a job id (400).
    """
    given = args.get("status", "")
    try:
        status = JobStatus(given) if given else None
    except ValueError:
        raise BadRequest(f"unknown status {given!r}; use one of {', '.join(JobStatus)}") from None
    before = args.get("before", "").strip().upper() or None
    if before and not JOB_ID.match(before):
        raise BadRequest("before must be a job id (26 characters)")
    return status, before


def _missing(job_id: str) -> NotFound:
    return NotFound(f"no job with id {job_id}; it may have been deleted")


@contextmanager
def _as_http(job_id: str) -> Iterator[None]:
    """Turn the store's JobNotFound into 404 and JobStateError into 409."""
    try:
        yield
    except JobNotFound:
        raise _missing(job_id) from None
    except JobStateError as exc:
        raise Conflict(str(exc)) from None


def find_job(services: Services, job_id: str) -> Job:
    """The job with this id (any case, spaces around it ignored).

    Raises:
        werkzeug.exceptions.NotFound: no such job (404).
    """
    wanted = job_id.strip().upper()
    job = services.store.get(wanted) if JOB_ID.match(wanted) else None
    if job is None:
        raise _missing(job_id)
    return job


def cancel_job(services: Services, job_id: str) -> Job:
    """Cancel a queued job (withdrawn at once) or a running one (stops at its next segment and
    keeps its partial transcript).

    Raises:
        werkzeug.exceptions.NotFound: no such job (404).
        werkzeug.exceptions.Conflict: the job has already ended (409).
    """
    job = find_job(services, job_id)
    with _as_http(job_id):
        return jobactions.cancel_job(services.store, services.spool, services.settings, job.id).job


def retry_job(services: Services, job_id: str) -> Job:
    """Queue a failed or cancelled job again from the start.

    Raises:
        werkzeug.exceptions.NotFound: no such job (404).
        werkzeug.exceptions.Conflict: the job is not failed or cancelled, or its media is gone (409).
    """
    job = find_job(services, job_id)
    with _as_http(job_id):
        return jobactions.retry_job(services.store, services.spool, job.id)


def delete_job(services: Services, job_id: str) -> Job:
    """Delete a finished job: its row, its media in the spool and its output files.

    Raises:
        werkzeug.exceptions.NotFound: no such job (404).
        werkzeug.exceptions.Conflict: the job is queued or running: cancel it first (409).
    """
    job = find_job(services, job_id)
    with _as_http(job_id):
        return jobactions.delete_job(services.store, services.spool, services.settings, job.id)
