"""The operator's commands, on the same store and under the same rules as the web
(``runner.jobs.actions``, ``runner.jobs.retention``): ``spoolscribe jobs``, ``retry``, ``cancel``, ``delete``
and ``purge``. Loaded by name by the ``spoolscribe`` group (``runner.cli.main.COMMANDS``).

Exit codes: 0 done; 1 a job that could not be acted on (each is named on stderr; the others are
still done); 2 bad usage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import click

from runner.cli.app import App, fails_cleanly, pass_app
from runner.core.errors import JobNotFound, JobStateError
from runner.core.schema import Job
from runner.core.states import ENDED, JobStatus
from runner.core.text import printable
from runner.jobs.actions import cancel_job, delete_job, retry_job
from runner.jobs.retention import lifetime, sweep
from runner.jobs.view import job_to_dict

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_AGE_DAYS = 36500
PAGE = 200


class Age(click.ParamType):
    """A span of time such as ``90s``, ``30m``, ``12h``, ``7d`` or ``2w`` (a bare number is days), at most
    ``MAX_AGE_DAYS`` (100 years: any older cutoff would fall before the first job, and far larger ones
    before year 1, which ``datetime`` cannot hold). A bad or too large one is a usage error (exit 2)."""

    name = "age"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
        if not found:
            self.fail(f"{value!r} is not an age: use a number and a unit, e.g. 90s, 30m, 12h, 7d, 2w", param, ctx)
        seconds = float(found.group(1)) * UNITS[found.group(2) or "d"]
        if not seconds <= MAX_AGE_DAYS * UNITS["d"]:
            self.fail(f"{value!r} is too long an age: at most {MAX_AGE_DAYS}d (100 years)", param, ctx)
        return timedelta(seconds=seconds)


def _day(moment: datetime | None) -> str:
    """A stored naive-UTC time as this machine's local time with its zone (``2026-11-29 23:14 CET``)."""
    return moment.replace(tzinfo=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z") if moment else "–"


def files_go(job: Job, app: App) -> str:
    """When the job's files go, in a few words (``media 2026-12-06 10:00 CET``, ``media deleted``, ``kept``,
    ``–``; local time)."""
    if job.status not in ENDED:
        return "–"
    life = lifetime(job, app.settings)
    parts = [f"media {_day(life.media_until)}" if life.media_until else "",
             "media deleted" if life.media_removed_at else "",
             f"all {_day(life.job_until)}" if life.job_until else ""]
    return ", ".join(part for part in parts if part) or "kept"


def _listed(app: App, status: JobStatus | None, since: timedelta | None, limit: int) -> Iterator[Job]:
    """Jobs newest first, paging through the store; stops at ``limit`` (0: none) or at the first
    job submitted before ``since`` ago."""
    cutoff = app.store.now() - since if since else None
    before, count = None, 0
    while True:
        page = app.store.list(status=status, limit=PAGE, before=before)
        for job in page:
            if (cutoff and job.created_at < cutoff) or (limit and count >= limit):
                return
            count += 1
            yield job
        if len(page) < PAGE:
            return
        before = page[-1].id


@click.command("jobs")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), help="Only jobs in this state.")
@click.option("--since", type=Age(), help="Only jobs submitted within this age (e.g. 1d, 12h).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=0),
              help="At most this many jobs (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of jobs (the shape of status --json).")
@pass_app
@fails_cleanly
def jobs(app: App, status: str | None, since: timedelta | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first: id, status, submitted, audio duration, when the files go (local times
    with their zone), file name (control characters escaped)."""
    found = list(_listed(app, JobStatus(status) if status else None, since, limit))
    if as_json:
        click.echo(json.dumps([job_to_dict(job) for job in found], ensure_ascii=False, indent=2))
        return
    for job in found:
        duration = f"{job.duration:7.1f} s" if job.duration is not None else "      – s"
        click.echo(f"{job.id}  {job.status:<9}  {_day(job.created_at)}  {duration}  {files_go(job, app):<28}  "
                   f"{printable(job.original_name)}")


def _each(app: App, job_ids: tuple[str, ...], act: Callable[[str], Job], said: Callable[[Job], str]) -> None:
    """Apply ``act`` to every job id; print ``said(job)`` for each done, the reason for each refused."""
    refused = 0
    for given in job_ids:
        try:
            job = act(given.strip().upper())
        except (JobNotFound, JobStateError) as exc:
            click.echo(f"error: {exc}", err=True)
            refused += 1
        else:
            click.echo(said(job))
    if refused:
        raise click.exceptions.Exit(1)


@click.command("retry")
@click.argument("job_ids", nargs=-1, required=True)
@pass_app
@fails_cleanly
def retry(app: App, job_ids: tuple[str, ...]) -> None:
    """Queue failed or cancelled jobs again from the start (their media must still be in the spool)."""
    _each(app, job_ids, lambda job_id: retry_job(app.store, app.spool, job_id),
          lambda job: f"{job.id} queued again ({printable(job.original_name)})")


@click.command("cancel")
@click.argument("job_ids", nargs=-1, required=True)
@pass_app
@fails_cleanly
def cancel(app: App, job_ids: tuple[str, ...]) -> None:
    """Cancel queued or running jobs (a running one stops at its next segment, keeping the transcript so far)."""
    running: set[str] = set()

    def act(job_id: str) -> Job:
        cancelled = cancel_job(app.store, app.spool, app.settings, job_id)
        if cancelled.was_running:
            running.add(cancelled.job.id)
        return cancelled.job

    _each(app, job_ids, act, lambda job: f"{job.id} cancelled ({printable(job.original_name)})"
                                         + ("; its runner stops at the next segment" if job.id in running else ""))


@click.command("delete")
@click.argument("job_ids", nargs=-1, required=True)
@pass_app
@fails_cleanly
def delete(app: App, job_ids: tuple[str, ...]) -> None:
    """Delete ended jobs with their media in the spool and their outputs (an inbox source stays);
    cancel queued or running ones first."""
    _each(app, job_ids, lambda job_id: delete_job(app.store, app.spool, app.settings, job_id),
          lambda job: f"{job.id} deleted ({printable(job.original_name)})")


@click.command("purge")
@click.option("--older-than", type=Age(),
              help="Also delete every ended job (row, media, outputs) that ended longer ago than this, e.g. 30d.")
@click.option("--dry-run", is_flag=True, help="Change nothing; list what would be removed.")
@pass_app
@fails_cleanly
def purge(app: App, older_than: timedelta | None, dry_run: bool) -> None:
    """Apply the retention settings now (runners also do it every SPOOLSCRIBE_RETENTION_INTERVAL):
    media of jobs past their time, and rows and outputs when SPOOLSCRIBE_RETENTION_JOB_DAYS or
    --older-than says so. Inbox sources and results beside them are never removed."""
    purged = sweep(app.store, app.spool, app.settings, "spoolscribe purge", older_than=older_than, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for item in purged:
        what = "job" if item.what == "job" else "the media of job"
        click.echo(f"{verb} {what} {item.job_id} ({printable(item.file_name)}, ended {_day(item.finished_at)}): "
                   f"{len(item.paths)} files")
    whole = sum(item.what == "job" for item in purged)
    click.echo(f"{'would remove' if dry_run else 'removed'} {whole} jobs and the media of {len(purged) - whole} more")
