"""``spoolscribe submit`` (queue files) and ``spoolscribe status`` (one job, or a summary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from runner.cli.app import App, fails_cleanly, pass_app
from runner.core.fsutil import UnusableNameError, check_utf8_path
from runner.core.options import FORMATS, JobOptions, OptionsError
from runner.core.text import printable
from runner.jobs.view import job_to_dict


def _not_empty(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A flag's value, refused when it is empty (an empty form field of the upload page means "not
    given"; on a command line it is a mistake)."""
    if value is not None and not value.strip():
        raise click.BadParameter("it is empty: leave the flag out for the default", param=param)
    return value


@click.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--language", default="auto", show_default=True,
              help="Language code (en, de, zh, ...), auto, or multi (detected for every segment: a recording "
                   "that switches languages).")
@click.option("--task", default="transcribe", show_default=True, help="transcribe, or translate (into English).")
@click.option("--model", help="Model for these jobs (default: the runner's SPOOLSCRIBE_MODEL).")
@click.option("--formats", "--format", "formats", default=",".join(FORMATS), show_default=True,
              help="Comma-separated output formats.")
@click.option("--initial-prompt", "--prompt", "initial_prompt",
              help="Initial prompt: names and terms that help recognition.")
@click.option("--hotwords", help="Words to favour during recognition.")
@click.option("--vad-filter/--no-vad-filter", "--vad/--no-vad", "vad_filter", default=True, show_default=True,
              help="Skip silence with the VAD filter.")
@click.option("--word-timestamps/--no-word-timestamps", default=True, show_default=True)
@click.option("--audio-track", metavar="N|LANG", callback=_not_empty,
              help="Audio track of a file with several: its number (1 is the first) or a language tag "
                   "(de, ger); default: the default-flagged track, else the first.")
@click.option("--diarize", is_flag=True, help="Tell who spoke when (runners need spoolscribe[diarization]).")
@click.option("--num-speakers", metavar="N", help="With --diarize: the number of speakers, when known.")
@click.option("--min-speakers", metavar="N", help="With --diarize: at least this many speakers.")
@click.option("--max-speakers", metavar="N", help="With --diarize: at most this many speakers.")
@click.option("--channels", type=click.Choice(["mix", "separate"]), default="mix", show_default=True,
              help="mix: all channels into one; separate: each channel on its own, as speaker 'channel 1', "
                   "'channel 2', ... (a call recorded one person per channel).")
@click.option("--max-line-length", metavar="CHARS", help="Subtitle lines at most this long (default 42; 0: no limit).")
@click.option("--max-lines", metavar="N", help="Subtitle cues of at most N lines (default 2; 0: no limit).")
@click.option("--max-cue-seconds", metavar="S", help="Subtitle cues at most S seconds long (default 7; 0: no limit).")
@click.option("--max-cps", metavar="CPS", help="Reading speed ceiling, characters a second (default 20; 0: none).")
@pass_app
@fails_cleanly
def submit(app: App, files: tuple[Path, ...], **given: Any) -> None:
    """Queue FILES for transcription; print one job id per line."""
    from runner.jobs.submit import submit_path

    # The flags arrive under the canonical option names, as strings or booleans, and go through the
    # same parser as uploads and folder settings (one check, one message); a bad one exits with 2.
    try:
        options = JobOptions.from_mapping(given)
        for path in files:  # all refused before any is queued, as the upload refuses such a name
            check_utf8_path(path.name)
    except (OptionsError, UnusableNameError) as exc:
        raise click.UsageError(str(exc)) from None
    for path in files:
        if path.stat().st_size == 0:
            click.echo(f"warning: {path} is empty; its job will fail", err=True)
        job = submit_path(app.store, app.spool, path, options)
        click.echo(job.id)


@click.command()
@click.argument("job_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the shape is in docs/api.md).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="Jobs to list without JOB_ID.")
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
    from runner.jobs.metrics import snapshot, summary_lines

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
        click.echo(f"{data['id']}  {data['status']:<9}  {percent}  {printable(data['file_name'])}")


def _describe(data: dict[str, Any]) -> str:
    lines = [
        f"job:       {data['id']}",
        f"file:      {printable(data['file_name'])}",
        f"status:    {data['status']}" + (f" ({data['stage']})" if data["stage"] else ""),
        f"progress:  {data['progress'] * 100:.1f}% of {data['duration'] or 0:.1f} s",
    ]
    if data["language"]:
        lines.append(f"language:  {data['language']} ({(data['language_probability'] or 0) * 100:.0f}%)")
    lines.append(f"attempts:  {data['attempts']}" + (f" (runner {data['runner']})" if data["runner"] else ""))
    if data["error"]:
        lines.append(f"error:     {printable(data['error'])}")
    lines.extend(f"warning:   {printable(warning)}" for warning in data["warnings"])
    lines.extend(f"output:    {printable(path)}" for path in data["outputs"])
    return "\n".join(lines)
