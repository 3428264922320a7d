"""A finished job's speakers as the web shows and renames them (the rewriting itself is
``webui.rewrite.rename_speakers``: every output rendered again from the job's JSON
output, the search index updated in the same transaction)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from werkzeug.exceptions import BadRequest, Conflict

from runner.core.schema import Job
from runner.core.states import ACTIVE
from runner.core.store import JobStore
from runner.output.speakers import speakers_of
from webui.actions import find_job
from webui.jobfiles import read_transcript_output, rewrite_errors, servable_outputs
from webui.rewrite import rename_speakers
from webui.services import Services

log = logging.getLogger(__name__)


def job_speakers(job: Job, store: JobStore) -> list[str]:
    """The speakers of the job's JSON output in order of first appearance; empty when the job was
    not diarized, has no JSON output, or it cannot be read or served."""
    try:
        transcript = read_transcript_output(job, store)
        if transcript is None:
            return []
    except (OSError, ValueError):  # the job page says why the transcript cannot be read
        return []
    return speakers_of(transcript)


def rename_job_speakers(services: Services, job_id: str, names: Mapping[str, str]) -> dict[str, str]:
    """Rename speakers in a finished job's outputs (``{current speaker: new name}``; an empty name
    keeps the speaker's); return the renames applied.

    Raises:
        werkzeug.exceptions.NotFound: no such job (404).
        werkzeug.exceptions.Conflict: the job is queued or running, or has no JSON output (409).
        werkzeug.exceptions.BadRequest: an unknown speaker, an unusable name, or an unreadable
            JSON output (400).
    """
    job = find_job(services, job_id)
    if job.status in ACTIVE:
        raise Conflict(f"job {job.id} is {job.status}; its speakers can be renamed when it has finished")
    try:
        with rewrite_errors(job, "renaming speakers"):
            renamed = rename_speakers(services.store, job.id, servable_outputs(services.store), names)
    except ValueError as exc:  # runner.output.speakers.SpeakerNameError included
        raise BadRequest(str(exc)) from None
    log.info("web: job %s: speakers renamed (%s)", job.id, ", ".join(f"{a} -> {b}" for a, b in renamed.items()))
    return renamed
