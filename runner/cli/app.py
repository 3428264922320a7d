"""What the ``spoolscribe`` subcommands share: the ``App`` context object (settings, store and spool
opened on first use), per-command setting overrides and the clean failure wrapper."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from runner.core.db import open_database
from runner.core.errors import SpoolscribeError
from runner.core.settings import Settings, SettingsError
from runner.core.spool import Spool
from runner.core.store import JobStore


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
    """The group's settings with a command's own flags applied (None flags ignored).

    Raises:
        click.UsageError: a flag's value cannot be used.
    """
    try:
        return ctx.obj.settings.with_overrides(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def fails_cleanly(command: Callable) -> Callable:
    """Turn the errors a person can act on (``SpoolscribeError`` and ``OSError``) into one-line
    messages and exit code 1. A closed output pipe (``spoolscribe status | head -3``) is not one: it
    goes on to click, which exits with 1 and no message (its ``EPIPE`` handling in ``Command.main``)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            raise
        except (SpoolscribeError, OSError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper
