"""The pages: jobs (live), upload, search, one job (transcript, downloads, actions). Server-rendered;
``static/app.js`` only polls the live fragments, plays audio from a transcript line (or the ``?t=``
a search hit links to) and edits a line in place through the API."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from runner.core.options import FORMATS, LANGUAGES, MAX_SPEAKERS, TASKS
from runner.core.schema import Job
from runner.core.search import ORDERS
from runner.core.states import ACTIVE, JobStatus
from runner.core.text import printable
from runner.jobs.files import media_file
from runner.jobs.transcripts import current_versions
from runner.jobs.webhooks import job_webhooks
from webui.actions import (
    cancel_job,
    delete_job,
    find_job,
    listing_filter,
    retry_job,
)
from webui.editing import revert_job_edits
from webui.jobfiles import output_formats, transcript_lines
from webui.searching import find, group_by_job, marked, search_request
from webui.services import services
from webui.speakers import job_speakers, rename_job_speakers
from webui.uploads import accept_uploads

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

PAGE_SIZE = 50


def _listing() -> dict:
    status, before = listing_filter(request.args)
    jobs = services().store.list(status=status, limit=PAGE_SIZE + 1, before=before)
    return {"jobs": jobs[:PAGE_SIZE], "status": status or "", "before": before,
            "next_before": jobs[PAGE_SIZE - 1].id if len(jobs) > PAGE_SIZE else None,
            "now": services().store.now(), "active": any(job.status in ACTIVE for job in jobs[:PAGE_SIZE])}


@bp.get("/")
def jobs() -> str:
    """Jobs newest first, filterable by status, 50 a page; running jobs' progress updates live."""
    return render_template("jobs.html", statuses=list(JobStatus), **_listing())


@bp.get("/live/jobs")
def live_jobs() -> Response:
    """The jobs page's live parts (same query string as the page): ``{"html": {element id: HTML},
    "active": bool}``."""
    listing = _listing()
    return jsonify(html={"summary": render_template("_summary.html"),
                         "job-rows": render_template("_job_rows.html", **listing)},
                   active=listing["active"])


@bp.get("/upload")
def upload_form() -> str:
    """The upload form."""
    return render_template("upload.html", languages=LANGUAGES, tasks=TASKS, formats=FORMATS,
                           models=services().settings.web_models, max_speakers=MAX_SPEAKERS)


@bp.post("/upload")
def upload() -> Response:
    """The form's post without JavaScript: every file of the form becomes a job (all or none)."""
    jobs = accept_uploads(services(), one_file=False, form_csrf=True)
    for job in jobs:
        log.info("web: job %s uploaded (%s)", job.id, printable(job.original_name))
    names = ", ".join(printable(job.original_name) for job in jobs)
    flash(f"Queued {len(jobs)} file{'s' if len(jobs) != 1 else ''}: {names}")
    return redirect(url_for("pages.jobs"))


def _job_state(job: Job) -> dict:
    svc = services()
    return {"job": job, "now": svc.store.now(), "active": job.status in ACTIVE,
            "downloads": output_formats(job, (*FORMATS, "rttm"), svc.store),
            "webhooks": job_webhooks(svc.store.engine, job.id)}


@bp.get("/jobs/<job_id>")
def job_page(job_id: str) -> str:
    """One job: state, timings, attempts, error and warnings, transcript, downloads, actions."""
    svc = services()
    job = find_job(svc, job_id)
    try:
        lines = transcript_lines(job, svc.store)
        transcript_error = None
    except (OSError, ValueError) as exc:
        lines, transcript_error = [], f"the transcript file cannot be read ({exc})"
    versions = current_versions(svc.store, job.id) if job.status == JobStatus.SUCCEEDED else {}
    state = _job_state(job)
    editable = bool(versions) and len(versions) == len(lines) and "json" in state["downloads"]
    return render_template("job.html", lines=lines, transcript_error=transcript_error,
                           has_media=media_file(job, svc.spool) is not None, versions=versions, editable=editable,
                           edited=any(versions.values()), speakers=job_speakers(job, svc.store), **state)


@bp.get("/search")
def search() -> str:
    """Segments matching ``?q=`` grouped by job, newest first or by relevance (``order``); a hit
    links to its job page, which plays the recording from the segment (``?t=``)."""
    wanted = search_request(request.args)
    hits, next_offset = find(services(), wanted) if wanted.query.strip() else ([], None)
    return render_template("search.html", wanted=wanted, groups=group_by_job(hits), next_offset=next_offset,
                           searched=bool(wanted.query.strip()), orders=ORDERS, marked=marked)


@bp.post("/jobs/<job_id>/revert")
def revert(job_id: str) -> Response:
    """Give every edited segment the model's text again, then back to the job page."""
    reverted = revert_job_edits(services(), job_id)
    flash(f"Reverted {len(reverted)} edited segment{'s' if len(reverted) != 1 else ''} to the model's text."
          if reverted else "Nothing was edited.")
    return redirect(url_for("pages.job_page", job_id=job_id.strip().upper()))


@bp.get("/live/jobs/<job_id>")
def live_job(job_id: str) -> Response:
    """The job page's live part: ``{"html": {"job-state": HTML}, "active": bool, "status": str}``."""
    state = _job_state(find_job(services(), job_id))
    return jsonify(html={"job-state": render_template("_job_state.html", **state)}, active=state["active"],
                   status=state["job"].status)


@bp.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Cancel, then back to the job page."""
    was_running = find_job(services(), job_id).status == JobStatus.RUNNING
    job = cancel_job(services(), job_id)
    flash("Cancelled; the runner stops at its next segment and keeps the transcript so far." if was_running
          else "Cancelled.")
    return redirect(url_for("pages.job_page", job_id=job.id))


@bp.post("/jobs/<job_id>/speakers")
def speakers(job_id: str) -> Response:
    """Rename speakers (fields ``speaker`` and ``name``, repeated in pairs), then back to the job page."""
    # form input: an unpaired trailing field is ignored, as before
    names = dict(zip(request.form.getlist("speaker"), request.form.getlist("name"), strict=False))
    renamed = rename_job_speakers(services(), job_id, names)
    flash(f"Renamed {len(renamed)} speaker{'s' if len(renamed) != 1 else ''}; the transcripts were rewritten."
          if renamed else "No speaker was renamed.")
    return redirect(url_for("pages.job_page", job_id=job_id.strip().upper()))


@bp.post("/jobs/<job_id>/retry")
def retry(job_id: str) -> Response:
    """Queue again, then back to the job page."""
    job = retry_job(services(), job_id)
    flash("Queued again from the start.")
    return redirect(url_for("pages.job_page", job_id=job.id))


@bp.route("/jobs/<job_id>/delete", methods=["GET", "POST"])
def delete(job_id: str) -> Response | str:
    """GET asks for confirmation; POST deletes the job and its files."""
    svc = services()
    if request.method == "GET":
        return render_template("delete.html", job=find_job(svc, job_id))
    job = delete_job(svc, job_id)
    log.info("web: job %s deleted", job.id)
    flash(f"Deleted {printable(job.original_name)} and its files.")
    return redirect(url_for("pages.jobs"))
