"""The quiet period: a file becomes a job only once its size and modification time stayed the same
for ``quiet`` seconds as we watched it. A close-after-write event shortens that to ``close_quiet``,
but only until the file changes after a close: a writer that opens, appends and closes again
(recorders and sync clients writing in chunks) closes the file after every chunk, so from then on
that file always waits the full ``quiet`` period, whatever close events say.

Times are monotonic seconds given by the caller, so the rules can be checked without waiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

FileKey = tuple[int, int, int]
"""What identifies one version of a file while it is watched: (size in bytes, mtime in ns, inode)."""


def file_key(stat: os.stat_result) -> FileKey:
    """The ``FileKey`` of a stat result."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


@dataclass
class _Pending:
    key: FileKey
    since: float
    """When this version was first seen, or the last event that said the file was written."""
    closed: bool
    """A writer closed the file after its last change."""


class StabilityTracker:
    """Files seen but not yet stable, with the time each was last seen changing."""

    def __init__(self, quiet: float, close_quiet: float) -> None:
        self.quiet = quiet
        self.close_quiet = min(close_quiet, quiet)
        self._pending: dict[str, _Pending] = {}
        self._closed: set[str] = set()
        """Paths a writer closed after writing (they are still remembered once taken)."""
        self._reopened: set[str] = set()
        """Paths that changed after a close: close events no longer shorten their quiet period."""

    def __contains__(self, path: str) -> bool:
        return path in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def observe(self, path: str, key: FileKey, now: float, *, written: bool = False, closed: bool = False) -> None:
        """Note that ``path`` was seen as ``key`` at ``now``.

        ``written``: an event says the file was just written (its quiet period starts again even
        if the key looks the same: some filesystems keep mtime in whole seconds). ``closed``: a
        writer closed it after writing (the shorter quiet period applies from the last change, unless
        the file changed after an earlier close: then the full period applies).
        """
        entry = self._pending.get(path)
        changed = entry is None or entry.key != key or written
        if changed and path in self._closed:
            self._reopened.add(path)
        if closed:
            self._closed.add(path)
        if entry is None or changed:
            self._pending[path] = _Pending(key, now, closed)
        elif closed:
            entry.closed = True

    def forget(self, path: str) -> None:
        """Stop watching ``path`` and forget its closes (deleted, moved away, ignored)."""
        self._pending.pop(path, None)
        self._closed.discard(path)
        self._reopened.discard(path)

    def forget_below(self, directory: str) -> None:
        """Stop watching every path below ``directory``."""
        prefix = directory.rstrip(os.sep) + os.sep
        for path in [p for p in {*self._pending, *self._closed} if p.startswith(prefix)]:
            self.forget(path)

    def _due_at(self, path: str, entry: _Pending) -> float:
        shortened = entry.closed and path not in self._reopened
        return entry.since + (self.close_quiet if shortened else self.quiet)

    def due(self, now: float) -> list[str]:
        """Paths whose quiet period has passed at ``now`` (to be confirmed with a fresh stat)."""
        return [path for path, entry in self._pending.items() if self._due_at(path, entry) <= now]

    def next_due(self) -> float | None:
        """The earliest time a path may become due, or None when nothing is watched."""
        return min((self._due_at(path, entry) for path, entry in self._pending.items()), default=None)

    def confirm(self, path: str, key: FileKey, now: float) -> bool:
        """True, and ``path`` is no longer watched, if its fresh ``key`` is the one it had all
        through its quiet period; otherwise its quiet period starts again at ``now``."""
        entry = self._pending.get(path)
        if entry is not None and entry.key == key:
            del self._pending[path]
            return True
        self._pending[path] = _Pending(key, now, False)
        return False
