"""``spoolscribe runner`` (a runner daemon), ``spoolscribe db upgrade`` and ``spoolscribe db copy``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from runner.cli.app import App, fails_cleanly, pass_app, settings_for
from runner.core.db import make_engine, upgrade
from runner.core.storecopy import copy_store
from runner.core.text import printable


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


def make_url_or_fail(value: str) -> URL:
    """``value`` as a database URL.

    Raises:
        click.BadParameter: it is not one.
    """
    try:
        return make_url(value)
    except ArgumentError:
        raise click.BadParameter(f"not a database URL: {printable(value)}", param_hint="--from") from None


@db.command("copy")
@click.option("--from", "source", required=True, metavar="URL",
              help="The store to copy from (e.g. sqlite:////var/lib/spoolscribe/spoolscribe.db).")
@pass_app
@fails_cleanly
def db_copy(app: App, source: str) -> None:
    """Copy every job, the inbox's ledger, the search index and the rest from the store at --from
    into this one (migrated, and empty): moving from SQLite to PostgreSQL. Stop every spoolscribe
    service first."""
    url = make_url_or_fail(source)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise click.ClickException(f"no SQLite store at {printable(url.database or '')}")
    try:
        copied = copy_store(make_engine(source), app.store.engine)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise click.ClickException(f"cannot copy the store: {printable(str(reason))}") from None
    click.echo(f"copied {copied.get('jobs', 0)} jobs and {sum(copied.values())} rows in all into "
               f"{app.store.engine.url.render_as_string(hide_password=True)}")
