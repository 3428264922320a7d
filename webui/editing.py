"""Editing a finished job's transcript from the web: one segment's text (optimistic: the editor
sends the version or the text it started from), or every edit reverted to the model's text. The
work itself is ``webui.rewrite``; here, the HTTP errors and who edited.

Authentication here names nobody (one shared token), so an edit records how it was authenticated:
``"bearer token"``, ``"browser login"``, or nothing when authentication is off.
"""

from __future__ import annotations

import logging

from flask import g, session
from werkzeug.exceptions import BadRequest, Conflict, NotFound

from runner.core.schema import Job
from runner.core.states import ACTIVE
from webui import rewrite
from webui.actions import find_job
from webui.jobfiles import rewrite_errors, servable_outputs
from webui.rewrite import SegmentState
from webui.services import Services

log = logging.getLogger(__name__)


class StaleEdit(Conflict):
    """409 for an edit that started from an old version: carries the segment's current text."""

    def __init__(self, conflict: rewrite.EditConflict) -> None:
        super().__init__(str(conflict))
        self.text, self.version = conflict.text, conflict.version


def editor(services: Services) -> str | None:
    """How the request was authenticated, for the versions' ``edited_by`` (None: no authentication)."""
    if not services.settings.web_token:
        return None
    return "bearer token" if g.get("bearer") else "browser login" if "login" in session else None


def _editable(services: Services, job_id: str) -> Job:
    job = find_job(services, job_id)
    if job.status in ACTIVE:
        raise Conflict(f"job {job.id} is {job.status}; its transcript can be edited when it has finished")
    return job


def edit_job_segment(services: Services, job_id: str, index: int, text: str, base_text: str | None,
                     base_version: int | None) -> SegmentState:
    """Save a segment's new text (see ``webui.rewrite.edit_segment``).

    Raises:
        werkzeug.exceptions.NotFound: no such job or segment (404).
        StaleEdit: the segment changed since ``base_text``/``base_version`` (409, with its text now).
        werkzeug.exceptions.Conflict: the job is not succeeded, or has no JSON output (409).
        werkzeug.exceptions.BadRequest: unusable text, no base given, or a version the segment never
            had (400).
        werkzeug.exceptions.InternalServerError: an output cannot be written; none changed (500).
    """
    job = _editable(services, job_id)
    try:
        with rewrite_errors(job, "editing the transcript"):
            return rewrite.edit_segment(services.store, job.id, servable_outputs(services.store), index,
                                            text, base_text=base_text, base_version=base_version,
                                            by=editor(services))
    except rewrite.EditConflict as exc:
        raise StaleEdit(exc) from None
    except IndexError as exc:
        raise NotFound(str(exc)) from None
    except ValueError as exc:  # SegmentTextError, UnknownVersionError, an unreadable JSON output
        raise BadRequest(str(exc)) from None


def revert_job_edits(services: Services, job_id: str) -> list[SegmentState]:
    """Give every edited segment of a job the model's text again; return those reverted.

    Raises:
        werkzeug.exceptions.NotFound, Conflict, BadRequest, InternalServerError: as ``edit_job_segment``.
    """
    job = _editable(services, job_id)
    try:
        with rewrite_errors(job, "reverting the transcript"):
            return rewrite.revert_job(services.store, job.id, servable_outputs(services.store),
                                          by=editor(services))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
