"""What every request of the web shares: the settings, the job store and the spool."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app

from runner.core.db import open_database
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.store import JobStore

EXTENSION_KEY = "spoolscribe"


@dataclass(frozen=True)
class Services:
    """The web's view of one spoolscribe home: settings, store (open database) and spool."""

    settings: Settings
    store: JobStore
    spool: Spool


def services() -> Services:
    """The services of the current Flask app (inside a request or app context)."""
    return current_app.extensions[EXTENSION_KEY]


def flask_app(import_name: str, settings: Settings) -> Flask:
    """A Flask app of spoolscribe: logging like the other spoolscribe processes (under gunicorn),
    JSON answered as built (keys unsorted, UTF-8), and the ``Services`` of ``settings`` (the database
    opened, and migrated if it is behind and ``auto_migrate`` allows).

    Raises:
        runner.core.db.SchemaMismatch: the database's schema does not match this code.
    """
    if not logging.getLogger().handlers:
        from runner.core.logs import configure_logging

        configure_logging(verbose=False)
    app = Flask(import_name)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = Services(settings, JobStore(open_database(settings)), Spool(settings.spool_dir))
    return app
