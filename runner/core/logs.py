"""Logging set-up shared by every process: one line per event on stderr, no timestamps under systemd."""

from __future__ import annotations

import logging
import os
import sys


def under_journal() -> bool:
    """True when systemd runs this process (its output goes to the journal, which adds timestamps)."""
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def configure_logging(verbose: bool) -> None:
    """Log to stderr, one line per event; no timestamps under systemd (the journal adds them)."""
    timestamp = "" if under_journal() else "%(asctime)s "
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"{timestamp}%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("faster_whisper", "watchdog", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
