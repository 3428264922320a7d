"""``spoolscribe compat``: serve Bazarr's and OpenAI's APIs with their own gunicorn
(``webui/compat/gunicorn_conf.py``), apart from the web's, so held requests never take its threads."""

from __future__ import annotations

import os
import sys

import click

from runner.core.settings import SettingsError
from webui.command import settings_env

GUNICORN_CONFIG = "python:webui.compat.gunicorn_conf"


@click.command("compat")
@click.option("--bind", help="HOST:PORT to listen on (default $SPOOLSCRIBE_COMPAT_BIND or 127.0.0.1:9000).")
@click.option("--workers", type=click.IntRange(min=1), help="Gunicorn worker processes (default 2).")
@click.option("--max-waiting", type=int, help="Requests one worker holds while their jobs run (default 16).")
@click.pass_context
def compat(ctx: click.Context, bind: str | None, workers: int | None, max_waiting: int | None) -> None:
    """Serve Bazarr's /asr and OpenAI's /v1/audio/* APIs, answered by runners through the queue."""
    try:
        settings = ctx.obj.settings.with_overrides(compat_bind=bind, compat_workers=workers,
                                                   compat_max_waiting=max_waiting)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    env = {**os.environ, **settings_env(settings)}
    argv = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "webui.compat:create_app()"]
    os.execve(sys.executable, argv, env)
