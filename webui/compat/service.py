"""The flow every compat request shares: a bounded hold, one job per identical request, waiting
for the job's end, and the job's outcome as an answer or a ``CompatError``."""

from __future__ import annotations

import functools
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, jsonify, make_response, request

from runner.core.options import JobOptions
from runner.core.schema import Job, JobSource, JobStatus
from runner.core.states import ENDED
from runner.jobs.once import known_job, request_key, submit_once
from runner.jobs.view import job_to_dict
from webui.compat.errors import CompatError, unavailable
from webui.compat.receive import Received
from webui.compat.waiting import Full, JobState, Watcher
from webui.present import summarize
from webui.services import services

WATCHER_KEY = "spoolscribe.compat.watcher"
DISCONNECT_CHECK = 1.0
"""Seconds between two checks, while a request waits, that its client is still connected."""


def watcher() -> Watcher:
    """This worker's watcher (see ``webui.compat.waiting``)."""
    return current_app.extensions[WATCHER_KEY]


def hold_request() -> Callable[[], None]:
    """Count this request as held; return the function that releases it (once answered).

    Raises:
        CompatError: 503 with Retry-After, the worker already holds ``compat_max_waiting`` requests.
    """
    held = watcher()
    try:
        held.acquire()
    except Full:
        raise unavailable(f"this server already holds {held.capacity} requests per worker "
                          "(SPOOLSCRIBE_COMPAT_MAX_WAITING); retry later", code="server_busy") from None
    return held.release


def held(view: Callable[..., Any]) -> Callable[..., Response]:
    """Decorate a view whose request is held while its job runs: refused with 503 beyond the
    bound, released when its response (a stream included) is closed."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        release = hold_request()
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            release()
            raise
        response.call_on_close(release)
        return response

    return wrapper


def job_for(received: Received, options: JobOptions, kind: JobSource) -> Job:
    """The job answering this request: an identical earlier request's, or a new one.

    Raises:
        CompatError: 503 when a new job is needed and no runner is alive to do it.
    """
    svc = services()
    key = request_key(received.sha256, options)
    if (known_job(svc.store, svc.settings.home, key) is None
            and not summarize(svc.store, svc.settings, svc.store.now()).alive):
        raise unavailable("no runner is alive to transcribe; start one (spoolscribe runner) and retry",
                          code="no_runner")
    job, _created = submit_once(svc.store, svc.spool, svc.settings.home, key, received.path, options, kind=kind,
                                original_name=received.name)
    return job


def respond_async(job: Job) -> Response | None:
    """202 with ``Location: /api/jobs/<id>`` when the client sent ``Prefer: respond-async``, else None."""
    if "respond-async" not in request.headers.get("Prefer", "").lower():
        return None
    response = jsonify(job_to_dict(job))
    response.status_code = 202
    response.headers["Location"] = f"/api/jobs/{job.id}"
    response.headers["Preference-Applied"] = "respond-async"
    return response


def wait_for_end(job: Job) -> Job:
    """Wait (at most ``compat_hold_seconds``) for ``job`` to end; return it succeeded.

    Raises:
        CompatError: 503 still running at the limit (a retry attaches to the job); 422 the job
            failed (its error) or was cancelled; 500 its row disappeared.
    """
    if JobStatus(job.status) in ENDED:
        return ended_job(job.id)  # an earlier identical request's result
    svc = services()
    deadline = time.monotonic() + svc.settings.compat_hold_seconds
    state: JobState | None = None
    while state is None or not state.ended:
        left = deadline - time.monotonic()
        if left <= 0:
            raise unavailable(f"job {job.id} is still {state.status if state else job.status}; retry to wait again "
                              "(the job goes on)", code="still_running")
        state = watcher().wait(job.id, state, min(left, DISCONNECT_CHECK))
        if client_gone():  # its slot goes back; the job goes on, and the client's retry finds it
            raise unavailable(f"the client left before job {job.id} ended", code="client_gone")
    return ended_job(job.id)


def client_gone() -> bool:
    """True when the client of this request has closed its connection (under gunicorn: its socket
    reads as ended); False while it is connected, or when the server gives no socket to look at."""
    connection = request.environ.get("gunicorn.socket")
    if connection is None:
        return False
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or already closed
        return True


def ended_job(job_id: str) -> Job:
    """The ended job ``job_id`` if it succeeded.

    Raises:
        CompatError: 422 failed or cancelled (with its error), 500 deleted.
    """
    job = services().store.get(job_id)
    if job is None:
        raise CompatError(500, f"job {job_id} was deleted before it could be answered; retry", kind="server_error")
    if job.status != JobStatus.SUCCEEDED.value:
        raise CompatError(422, f"job {job.id} {job.status}: {job.error or 'no reason recorded'}",
                          code=f"job_{job.status}")
    return job
