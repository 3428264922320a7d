"""``spoolscribe runner`` (a runner daemon) and ``spoolscribe db upgrade``."""

from __future__ import annotations

import sys
from typing import Any

import click

from runner.cli.app import App, fails_cleanly, pass_app, settings_for
from runner.core.db import upgrade


@click.command("runner")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--name", help="Runner name, unique across the hosts sharing the job store "
                               "(default <host>-<pid>; the systemd units use <host>-<instance>).")
@click.option("--model", help="Default model (name or CTranslate2 directory).")
@click.option("--device", help="cpu, cuda or auto.")
@click.option("--compute-type", help="CTranslate2 compute type (default int8 on the CPU).")
@click.option("--threads", type=int, help="CPU threads for the model (default: cores / runners).")
@click.option("--nice", type=int, help="Niceness to add (default 10).")
@click.pass_context
@fails_cleanly
def runner_command(ctx: click.Context, burst: bool, name: str | None, **flags: Any) -> None:
    """Run a runner daemon: claim jobs from the spool and transcribe them."""
    from runner.daemon.loop import Runner, runner_name
    from runner.daemon.transcribe import Engine, ModelError

    settings = settings_for(ctx, **flags)
    app = App(settings)
    runner = Runner(settings, app.store, app.spool, Engine(settings), runner_name(settings, name))
    try:
        code = runner.run(burst=burst)
    except ModelError as exc:
        raise click.ClickException(f"{exc}; set SPOOLSCRIBE_MODEL to a model name or a CTranslate2 directory") from exc
    sys.exit(code)


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@pass_app
@fails_cleanly
def db_upgrade(app: App) -> None:
    """Apply pending schema migrations (safe to run at any time)."""
    before, after = upgrade(app.settings)
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))
