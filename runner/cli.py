"""The ``spoolscribe`` command line (click): the edge where settings are read and logging is set up.

Exit codes: 0 success; 1 a failure at run time (unknown job, database newer than this code,
model that cannot load); 2 bad usage (missing file, bad option), as click reports it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from runner.db import SchemaMismatch, open_database, upgrade
from runner.jobview import job_to_dict
from runner.options import FORMATS, JobOptions, OptionsError
from runner.settings import Settings, SettingsError
from runner.spool import Spool
from runner.store import JobStore


@dataclass
class App:
    """What every command shares: the settings, and the store and spool opened on first use."""

    settings: Settings
    _store: JobStore | None = field(default=None, repr=False)
    _spool: Spool | None = field(default=None, repr=False)

    @property
    def store(self) -> JobStore:
        """The job store, its schema brought up to date first."""
        if self._store is None:
            self._store = JobStore(open_database(self.settings))
        return self._store

    @property
    def spool(self) -> Spool:
        """The spool under the data root."""
        if self._spool is None:
            self._spool = Spool(self.settings.spool_dir)
        return self._spool


pass_app = click.make_pass_decorator(App)


def settings_for(ctx: click.Context, **overrides: Any) -> Settings:
    """The group's settings with a command's own flags applied (None flags ignored)."""
    base: Settings = ctx.obj.settings
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings.from_env(env={}, **{**_as_overrides(base), **given})
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _as_overrides(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def fails_cleanly(command: Callable) -> Callable:
    """Turn the errors a person can act on into one-line messages and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (SchemaMismatch, OptionsError, SettingsError, OSError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def under_journal() -> bool:
    """True when systemd runs this process (its output goes to the journal, which adds timestamps)."""
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def configure_logging(verbose: bool) -> None:
    """Log to stderr, one line per event; no timestamps under systemd (the journal adds them)."""
    timestamp = "" if under_journal() else "%(asctime)s "
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"{timestamp}%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("faster_whisper", "watchdog", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group()
@click.option("--home", type=click.Path(path_type=Path), help="Data root (default $SPOOLSCRIBE_HOME).")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite under the data root).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def main(ctx: click.Context, home: Path | None, database_url: str | None, verbose: bool) -> None:
    """spoolscribe: a transcription job runner for one server."""
    configure_logging(verbose)
    try:
        ctx.obj = App(Settings.from_env(home=home, database_url=database_url))
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@main.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--language", default="auto", show_default=True, help="Language code (en, de, zh, ...) or auto.")
@click.option("--task", type=click.Choice(["transcribe", "translate"]), default="transcribe", show_default=True)
@click.option("--model", help="Model for these jobs (default: the runner's SPOOLSCRIBE_MODEL).")
@click.option("--format", "formats", default=",".join(FORMATS), show_default=True,
              help="Comma-separated output formats.")
@click.option("--prompt", help="Initial prompt: names and terms that help recognition.")
@click.option("--hotwords", help="Words to favour during recognition.")
@click.option("--vad/--no-vad", default=True, show_default=True, help="Skip silence with the VAD filter.")
@click.option("--word-timestamps/--no-word-timestamps", default=True, show_default=True)
@click.option("--diarize", is_flag=True, help="Tell who spoke when (runners need spoolscribe[diarization]).")
@click.option("--num-speakers", type=int, help="With --diarize: the number of speakers, when known.")
@click.option("--min-speakers", type=int, help="With --diarize: at least this many speakers.")
@click.option("--max-speakers", type=int, help="With --diarize: at most this many speakers.")
@pass_app
@fails_cleanly
def submit(app: App, files: tuple[Path, ...], language: str, task: str, model: str | None, formats: str,
           prompt: str | None, hotwords: str | None, vad: bool, word_timestamps: bool, **speakers: Any) -> None:
    """Queue FILES for transcription; print one job id per line."""
    from runner.submit import submit_path

    try:
        options = JobOptions(language=language, task=task, model=model, formats=formats,
                             initial_prompt=prompt, hotwords=hotwords, vad_filter=vad,
                             word_timestamps=word_timestamps, **speakers)
    except OptionsError as exc:
        raise click.BadParameter(str(exc)) from None
    for path in files:
        if path.stat().st_size == 0:
            click.echo(f"warning: {path} is empty; its job will fail", err=True)
        job = submit_path(app.store, app.spool, path, options)
        click.echo(job.id)


@main.command()
@click.argument("job_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the shape is in README).")
@click.option("--limit", default=20, show_default=True, help="Jobs to list without JOB_ID.")
@pass_app
@fails_cleanly
def status(app: App, job_id: str | None, as_json: bool, limit: int) -> None:
    """Show one job (status, progress, error, outputs), or a summary of the metrics and the newest jobs."""
    if job_id:
        job = app.store.get(job_id.strip().upper())
        if job is None:
            raise click.ClickException(f"no job with id {job_id}")
        data = job_to_dict(job)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else _describe(data))
        return
    from runner.metrics import snapshot, summary_lines

    metrics = snapshot(app.store, app.settings)
    jobs = [job_to_dict(job) for job in app.store.list(limit=limit)]
    if as_json:
        click.echo(json.dumps({"counts": metrics.jobs, "jobs": jobs, "metrics": metrics.to_dict()},
                              ensure_ascii=False, indent=2))
        return
    click.echo("\n".join(summary_lines(metrics)))
    click.echo("newest jobs:" if jobs else "no jobs yet")
    for data in jobs:
        percent = f"{data['progress'] * 100:5.1f}%"
        click.echo(f"{data['id']}  {data['status']:<9}  {percent}  {data['file_name']}")


def _describe(data: dict[str, Any]) -> str:
    lines = [
        f"job:       {data['id']}",
        f"file:      {data['file_name']}",
        f"status:    {data['status']}" + (f" ({data['stage']})" if data["stage"] else ""),
        f"progress:  {data['progress'] * 100:.1f}% of {data['duration'] or 0:.1f} s",
    ]
    if data["language"]:
        lines.append(f"language:  {data['language']} ({(data['language_probability'] or 0) * 100:.0f}%)")
    lines.append(f"attempts:  {data['attempts']}" + (f" (runner {data['runner']})" if data["runner"] else ""))
    if data["error"]:
        lines.append(f"error:     {data['error']}")
    lines.extend(f"warning:   {warning}" for warning in data["warnings"])
    lines.extend(f"output:    {path}" for path in data["outputs"])
    return "\n".join(lines)


@main.command("runner")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--name", help="Runner name (default <host>-<pid>; unique per server).")
@click.option("--model", help="Default model (name or CTranslate2 directory).")
@click.option("--device", help="cpu, cuda or auto.")
@click.option("--compute-type", help="CTranslate2 compute type (default int8 on the CPU).")
@click.option("--threads", type=int, help="CPU threads for the model (default: cores / runners).")
@click.option("--nice", type=int, help="Niceness to add (default 10).")
@click.pass_context
@fails_cleanly
def runner_command(ctx: click.Context, burst: bool, name: str | None, **flags: Any) -> None:
    """Run a runner daemon: claim jobs from the spool and transcribe them."""
    from runner.daemon import Runner, default_runner_name
    from runner.transcribe import Engine, ModelError

    settings = settings_for(ctx, **flags)
    app = App(settings)
    runner = Runner(settings, app.store, app.spool, Engine(settings), name or default_runner_name())
    try:
        code = runner.run(burst=burst)
    except ModelError as exc:
        raise click.ClickException(f"{exc}; set SPOOLSCRIBE_MODEL to a model name or a CTranslate2 directory")
    sys.exit(code)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@pass_app
@fails_cleanly
def db_upgrade(app: App) -> None:
    """Apply pending schema migrations (safe to run at any time)."""
    before, after = upgrade(app.settings)
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


main.add_command(__import__("webui.command", fromlist=["web"]).web)  # spoolscribe web
main.add_command(__import__("runner.ingest.command", fromlist=["ingest"]).ingest)  # spoolscribe ingest
main.add_command(__import__("runner.install_systemd", fromlist=["install_systemd"]).install_systemd)  # spoolscribe install-systemd
main.add_command(__import__("runner.operator_cli", fromlist=["jobs"]).jobs)  # spoolscribe jobs
main.add_command(__import__("runner.operator_cli", fromlist=["retry"]).retry)  # spoolscribe retry
main.add_command(__import__("runner.operator_cli", fromlist=["cancel"]).cancel)  # spoolscribe cancel
main.add_command(__import__("runner.operator_cli", fromlist=["delete"]).delete)  # spoolscribe delete
main.add_command(__import__("runner.operator_cli", fromlist=["purge"]).purge)  # spoolscribe purge
