"""``spoolscribe ingest``: run the inbox daemon; or, with ``--force``, queue inbox files at once.

Loaded by name by the ``spoolscribe`` group (``runner.cli.main.COMMANDS``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from runner.cli.app import App, fails_cleanly, settings_for
from runner.core.text import printable


@click.command("ingest")
@click.option("--inbox", type=click.Path(file_okay=False, path_type=Path),
              help="The folder to watch, recursively (default $SPOOLSCRIBE_INBOX or <home>/inbox).")
@click.option("--quiet", type=float, help="Seconds a file must stay unchanged before it is taken (default 5).")
@click.option("--polling/--inotify", default=None,
              help="Poll the tree (network filesystems) instead of inotify (default $SPOOLSCRIBE_INBOX_POLLING).")
@click.option("--name", help="Name in log lines (default <host>-ingest).")
@click.option("--force", "forced", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Queue this inbox file now even if it was taken before, print its job id, and exit "
                   "(repeatable).")
@click.pass_context
@fails_cleanly
def ingest(ctx: click.Context, inbox: Path | None, quiet: float | None, polling: bool | None, name: str | None,
           forced: tuple[Path, ...]) -> None:
    """Watch the inbox: every complete media file dropped in becomes one job, results land next to it."""
    from runner.ingest.daemon import IngestDaemon, IngestError
    from runner.ingest.delivery import Delivery, Outcome
    from runner.ingest.folders import FolderSettingsError

    settings = settings_for(ctx, inbox=str(inbox) if inbox else None, inbox_quiet=quiet, inbox_polling=polling)
    app = App(settings)
    if forced:
        delivery = Delivery.for_settings(settings, app.store, app.spool)
        for path in forced:
            path = path.absolute()
            if not path.is_relative_to(settings.inbox_dir):
                raise click.BadParameter(f"{path} is not in the inbox {settings.inbox_dir}", param_hint="--force")
            try:
                result = delivery.deliver(path, os.stat(path), force=True)
            except FolderSettingsError as exc:
                raise click.ClickException(str(exc)) from None
            if result.outcome is Outcome.EMPTY:
                raise click.ClickException(f"{printable(path)} is empty; an empty file is never queued")
            if result.outcome is Outcome.CHANGED:
                raise click.ClickException(f"{printable(path)} changed while it was read; try again once it is "
                                           "complete")
            click.echo(result.job_id)
        return
    if not settings.inbox:  # the default inbox under the data root is ours to make; a configured one is waited for
        settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    daemon = IngestDaemon(settings, app.store, app.spool, name or f"{settings.host_name}-ingest")
    try:
        sys.exit(daemon.run())
    except IngestError as exc:
        raise click.ClickException(str(exc)) from None
