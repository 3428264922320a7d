"""Which paths in the inbox can become jobs: no dotfiles or dot-folders, no temporary names of
copy and sync tools or browsers, none of our own outputs, only configured media extensions."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

from runner.core.options import FORMATS

TEMPORARY_PATTERNS: tuple[str, ...] = (
    "*.part",  # Firefox, wget, KDE
    "*.partial",  # Edge, Internet Explorer
    "*.crdownload",  # Chrome, Chromium
    "*.download",  # Safari
    "*.tmp",  # many tools, Syncthing on Windows (~syncthing~name.tmp)
    "*.filepart",  # WinSCP
    "~$*",  # Microsoft Office owner files
    ".~lock.*",  # LibreOffice locks
    "*.!sync",  # Resilio (BitTorrent) Sync
    ".syncthing.*",  # Syncthing
)
"""Names (lower case, fnmatch) that files carry while a tool is still writing them."""

OUTPUT_MARKERS: tuple[str, ...] = ("*.error.txt", "*.spoolscribe.*", "*.spoolscribe-*")
"""Names of files spoolscribe itself writes into the inbox tree (besides the output formats)."""


class IgnoreRules:
    """Decides whether a path below the inbox may become a job.

    ``extensions``: the media extensions taken (without the dot, any case). ``excluded``:
    directories never looked into (the outbox, the data root) when they lie inside the inbox.
    """

    def __init__(self, inbox: Path, extensions: Iterable[str], excluded: Iterable[Path] = ()) -> None:
        self.inbox = inbox
        outputs = set(FORMATS)
        self.extensions = frozenset(ext.lower().lstrip(".") for ext in extensions) - outputs
        self.excluded = tuple(path for path in excluded if path != inbox and path.is_relative_to(inbox))

    def ignored_name(self, name: str) -> bool:
        """True for a file name that never becomes a job (the directory does not matter)."""
        lowered = name.lower()
        if lowered.startswith(".") or "." not in lowered:
            return True
        if any(fnmatch.fnmatchcase(lowered, pattern) for pattern in TEMPORARY_PATTERNS + OUTPUT_MARKERS):
            return True
        return lowered.rsplit(".", 1)[1] not in self.extensions

    def ignored_directory(self, path: Path) -> bool:
        """True for a directory whose files are never looked at (a dot-folder, the outbox, ...)."""
        if not path.is_relative_to(self.inbox):
            return True
        if any(part.startswith(".") for part in path.relative_to(self.inbox).parts):
            return True
        return any(path.is_relative_to(excluded) for excluded in self.excluded)

    def wanted(self, path: Path) -> bool:
        """True for a path below the inbox that may become a job (by its name and folders alone)."""
        return not self.ignored_name(path.name) and not self.ignored_directory(path.parent)
