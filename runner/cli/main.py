"""The ``spoolscribe`` command line (click): the edge where settings are read and logging is set up.

Subcommands live in their own modules and are imported only when named (``LazyGroup``), so
``spoolscribe status`` never loads the speech stack and no subcommand module imports this one.

Exit codes: 0 success; 1 a failure at run time (unknown job, database newer than this code,
model that cannot load); 2 bad usage (missing file, bad option), as click reports it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from runner.cli.app import App
from runner.core.logs import configure_logging
from runner.core.settings import Settings, SettingsError

# Subcommand name -> "module:attribute" of its click command, imported on first use.
COMMANDS = {
    "submit": "runner.cli.submit:submit",
    "status": "runner.cli.submit:status",
    "runner": "runner.cli.runner:runner_command",
    "db": "runner.cli.runner:db",
    "ingest": "runner.cli.ingest:ingest",
    "install-systemd": "runner.cli.install_systemd:install_systemd",
    "jobs": "runner.cli.operator:jobs",
    "retry": "runner.cli.operator:retry",
    "cancel": "runner.cli.operator:cancel",
    "delete": "runner.cli.operator:delete",
    "purge": "runner.cli.operator:purge",
    "search": "runner.cli.search:search_command",
    "web": "webui.command:web",
    "compat": "webui.compat.command:compat",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are named in ``COMMANDS`` and imported when first used
    (the pattern from click's documentation, "Lazily Loading Subcommands")."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand name, sorted."""
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The named subcommand, imported on demand; None for an unknown name."""
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return command


@click.group(cls=LazyGroup)
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
