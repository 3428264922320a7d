"""Logging set-up shared by every process: one line per event on stderr, no timestamps under systemd."""

from __future__ import annotations

import logging
import os
import sys

from runner.core.text import printable


def under_journal() -> bool:
    """True when systemd runs this process (its output goes to the journal, which adds timestamps)."""
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


class OneLineFormatter(logging.Formatter):
    """A formatter whose event line has its control characters escaped (``runner.core.text.printable``):
    a name that reached a message unescaped still cannot forge a line. A traceback, added after
    the line, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def configure_logging(verbose: bool) -> None:
    """Log to stderr, one line per event; no timestamps under systemd (the journal adds them)."""
    timestamp = "" if under_journal() else "%(asctime)s "
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(f"{timestamp}%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in ("faster_whisper", "watchdog", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
