"""What every request of the web shares: the settings, the job store and the spool."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

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
