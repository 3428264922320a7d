"""``spoolscribe web``: serve the pages and the API with gunicorn, as in production (or with
Flask's development server under ``--debug``)."""

from __future__ import annotations

import dataclasses
import os
import sys

import click

from runner.core.db import SchemaMismatch
from runner.core.settings import ENV_PREFIX, Settings, SettingsError

GUNICORN_CONFIG = "python:webui.gunicorn_conf"


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as the ``SPOOLSCRIBE_*`` variable that reproduces it (for the gunicorn process)."""
    env = {}
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, tuple):
            text = ",".join(value)
        else:
            text = str(value)
        env[ENV_PREFIX + item.name.upper()] = text
    return env


def _host_port(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.UsageError(f"--debug needs --bind HOST:PORT, got {bind!r}")
    return host.strip("[]"), int(port)


@click.command("web")
@click.option("--bind", help="HOST:PORT to listen on (default $SPOOLSCRIBE_WEB_BIND or 127.0.0.1:8080).")
@click.option("--workers", type=click.IntRange(min=1), help="Gunicorn worker processes (default 2).")
@click.option("--threads", type=click.IntRange(min=1),
              help="Threads per worker, more than SPOOLSCRIBE_WEB_UPLOAD_SLOTS (default 8).")
@click.option("--debug", is_flag=True, help="Flask's development server with reloader and debugger (local only).")
@click.pass_context
def web(ctx: click.Context, bind: str | None, workers: int | None, threads: int | None, debug: bool) -> None:
    """Serve the status pages and the JSON API (gunicorn with webui/gunicorn_conf.py)."""
    try:
        settings = ctx.obj.settings.with_overrides(web_bind=bind, web_workers=workers)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if threads is not None and threads <= settings.web_upload_slots:
        raise click.BadParameter(f"{threads} leaves no thread for reads while uploads stream: give more than the "
                                 f"{settings.web_upload_slots} upload slots (SPOOLSCRIBE_WEB_UPLOAD_SLOTS)",
                                 param_hint="'--threads'")
    settings = settings.with_overrides(web_threads=threads)
    if debug:
        from webui import create_app
        from webui.auth import warn_if_exposed

        host, port = _host_port(settings.web_bind)
        warn_if_exposed([(host, port)], settings)
        try:
            app = create_app(settings)
        except SchemaMismatch as exc:
            raise click.ClickException(str(exc)) from None
        app.run(host, port, debug=True)
        return
    env = {**os.environ, **settings_env(settings)}
    argv = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "webui:create_app()"]
    os.execve(sys.executable, argv, env)
