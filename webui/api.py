"""The JSON API (documented in docs/api.md, "HTTP JSON API") and the health check.

Every error is ``{"error": "..."}`` with its status (see ``webui.app``); jobs have the shape of
``runner.jobs.view.job_to_dict``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import BadRequest, Conflict, Gone, NotFound

from runner.core.mediatype import media_type_of
from runner.core.states import ACTIVE, JobStatus
from runner.core.text import printable
from runner.jobs.files import open_media
from runner.jobs.metrics import CONTENT_TYPE, exposition, snapshot
from runner.jobs.outputs import OutputChangedError, open_output
from runner.jobs.transcripts import versions
from runner.jobs.view import iso, job_to_dict
from webui.actions import cancel_job, delete_job, find_job, listing_filter, retry_job
from webui.auth import authenticated
from webui.editing import edit_job_segment, revert_job_edits
from webui.jobfiles import send_open_file
from webui.present import summarize
from webui.searching import find, search_request
from webui.services import services
from webui.speakers import job_speakers, rename_job_speakers
from webui.uploads import accept_uploads

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__)

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
TRANSCRIPT_TYPES = {"txt": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt", "json": "application/json",
                    "rttm": "text/plain"}  # RTTM (speaker turns of a diarized job) has no media type of its own


@bp.get("/api/jobs")
def list_jobs() -> Response:
    """``?status=&limit=&before=``: jobs newest first, the counts per status, and ``next_before``
    (the ``before`` of the next page, or null on the last page)."""
    try:
        limit = int(request.args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    status, before = listing_filter(request.args)
    store = services().store
    jobs = store.list(status=status, limit=limit + 1, before=before)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    return jsonify(jobs=[job_to_dict(job) for job in jobs], counts=store.counts(),
                   next_before=jobs[-1].id if more else None)


@bp.post("/api/jobs")
def create_job() -> tuple[Response, int, dict[str, str]]:
    """Multipart upload: the media in ``file`` plus option fields; 201 with the job and a Location."""
    job = accept_uploads(services(), one_file=True, form_csrf=False)[0]
    log.info("web: job %s uploaded (%s)", job.id, printable(job.original_name))
    return jsonify(job_to_dict(job)), 201, {"Location": url_for("api.get_job", job_id=job.id)}


@bp.get("/api/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """One job."""
    return jsonify(job_to_dict(find_job(services(), job_id)))


@bp.get("/api/jobs/<job_id>/transcript.<fmt>")
def transcript(job_id: str, fmt: str) -> Response:
    """A finished job's output file as a UTF-8 download named after the original file; 410 when the
    file at its path is no longer the one the runner wrote (replaced by a link or another file)."""
    if fmt not in TRANSCRIPT_TYPES:
        raise NotFound(f"unknown transcript format {fmt!r}; use one of {', '.join(TRANSCRIPT_TYPES)}")
    svc = services()
    job = find_job(svc, job_id)
    if job.status in ACTIVE:
        raise Conflict(f"job {job.id} is {job.status}; its transcript is ready when it has finished")
    try:
        opened = open_output(svc.store.engine, job, fmt)
    except OutputChangedError as exc:
        raise Gone(str(exc)) from None
    if opened is None:
        asked = ", ".join(job.options.get("formats", []))
        raise NotFound(f"job {job.id} has no {fmt} transcript (it is {job.status}; formats asked for: {asked})")
    response = send_open_file(opened[0], TRANSCRIPT_TYPES[fmt], job, opened[1].name)
    response.content_type = f"{TRANSCRIPT_TYPES[fmt]}; charset=utf-8"
    return response


@bp.get("/api/jobs/<job_id>/media")
def media(job_id: str) -> Response:
    """The job's media as stored in the spool, with HTTP range support (the page's audio player):
    an attachment of the type its container signature says (``runner.core.mediatype``), never one
    guessed from the uploader's file name, which only names the download (escaped)."""
    svc = services()
    job = find_job(svc, job_id)
    handle = open_media(job, svc.spool)
    if handle is None:
        raise NotFound(f"the media of job {job.id} is no longer in the spool")
    return send_open_file(handle, media_type_of(handle), job, job.original_name)


@bp.post("/api/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Cancel a queued or running job; 409 if it has ended."""
    return jsonify(job_to_dict(cancel_job(services(), job_id)))


@bp.post("/api/jobs/<job_id>/speakers")
def speakers(job_id: str) -> Response:
    """Rename speakers of a finished, diarized job: JSON ``{"names": {"SPEAKER_00": "Diane"}}``; its
    outputs are rewritten. Answers ``{"renamed": {...}, "speakers": [...]}`` (the speakers now)."""
    body = request.get_json(silent=True)
    names = body.get("names") if isinstance(body, dict) else None
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise BadRequest('send JSON {"names": {"SPEAKER_00": "a name", ...}} with the speakers to rename')
    svc = services()
    renamed = rename_job_speakers(svc, job_id, names)
    return jsonify(renamed=renamed, speakers=job_speakers(find_job(svc, job_id), svc.store))


@bp.patch("/api/jobs/<job_id>/segments/<int:index>")
def edit_segment(job_id: str, index: int) -> Response:
    """Edit a finished job's segment: JSON ``{"text": "...", "base_version": 0}`` (or ``"base_text"``:
    the text the edit started from); every output is rewritten. Answers ``{"segment", "text",
    "version"}``; 409 with the current ``text`` and ``version`` when the segment changed meanwhile."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise BadRequest('send JSON {"text": "the new text", "base_version": N} (or "base_text")')
    base_text, base_version = body.get("base_text"), body.get("base_version")
    if not (base_text is None or isinstance(base_text, str)) or \
            not (base_version is None or (isinstance(base_version, int) and not isinstance(base_version, bool)
                                          and base_version >= 0)):
        raise BadRequest("base_text must be a string and base_version a whole number from 0")
    saved = edit_job_segment(services(), job_id, index, body["text"], base_text, base_version)
    return jsonify(segment=saved.index, text=saved.text, version=saved.version)


@bp.get("/api/jobs/<job_id>/segments/<int:index>/versions")
def segment_versions(job_id: str, index: int) -> Response:
    """The saved versions of a segment, oldest first (version 0 is the model's text; empty when
    never edited): ``{"versions": [{"version", "text", "edited_at", "edited_by"}]}``."""
    svc = services()
    job = find_job(svc, job_id)
    return jsonify(versions=[{"version": v.version, "text": v.text, "edited_at": iso(v.edited_at),
                              "edited_by": v.edited_by} for v in versions(svc.store, job.id, index)])


@bp.post("/api/jobs/<job_id>/revert")
def revert(job_id: str) -> Response:
    """Give every edited segment of a finished job the model's text again (outputs rewritten):
    ``{"reverted": [{"segment", "text", "version"}]}``."""
    reverted = revert_job_edits(services(), job_id)
    return jsonify(reverted=[{"segment": s.index, "text": s.text, "version": s.version} for s in reverted])


@bp.get("/api/search")
def search() -> Response:
    """``?q=&limit=&offset=&order=``: segments of succeeded jobs matching ``q`` (words in any order,
    ``"a phrase"``, ``prefix*``), newest first or by relevance: ``{"query", "order", "results":
    [...], "next_offset"}``."""
    wanted = search_request(request.args)
    hits, next_offset = find(services(), wanted)
    return jsonify(query=wanted.query, order=wanted.order, results=[hit.to_dict() for hit in hits],
                   next_offset=next_offset)


@bp.post("/api/jobs/<job_id>/retry")
def retry(job_id: str) -> Response:
    """Queue a failed or cancelled job again; 409 otherwise."""
    return jsonify(job_to_dict(retry_job(services(), job_id)))


@bp.delete("/api/jobs/<job_id>")
def delete(job_id: str) -> tuple[str, int]:
    """Delete a finished job with its media and outputs; 204, or 409 while it is queued or running."""
    job = delete_job(services(), job_id)
    log.info("web: job %s deleted", job.id)
    return "", 204


@bp.get("/healthz")
def health() -> Response | tuple[Response, int]:
    """Database reachable, queue depth, each runner's last heartbeat age, and the free disk space
    (``disk_low`` and a line in ``warnings`` when runners pause claiming); no login needed. Paths
    (the disks' ``path``, the warning's detail) only with the token or a logged-in session."""
    svc = services()
    try:
        summary = summarize(svc.store, svc.settings, svc.store.now())
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or type(exc).__name__
        log.warning("web: health check: database unreachable (%s)", reason)
        return jsonify(error=f"database unreachable: {reason}"), 503
    full = authenticated()
    disk = [space.to_dict() if full else {k: v for k, v in space.to_dict().items() if k != "path"}
            for space in summary.disk]
    low = ", ".join(space.name for space in summary.disk if space.low)
    warning = summary.disk_warning if full else f"disk space is low for {low}"
    return jsonify(status="ok", database="ok", queue_depth=summary.queue_depth,
                   running=summary.counts[JobStatus.RUNNING], runners_alive=len(summary.alive),
                   runners=[runner.to_dict() for runner in summary.runners], disk_low=summary.disk_warning is not None,
                   disk=disk, warnings=[f"runners claim no job: {warning}"] if summary.disk_warning else [])


@bp.get("/metrics")
def metrics() -> Response:
    """The metrics in the Prometheus text format (``runner.jobs.metrics``); with a token, it needs the
    bearer token like the API."""
    svc = services()
    return Response(exposition(snapshot(svc.store, svc.settings)), content_type=CONTENT_TYPE)
