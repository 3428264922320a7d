"""Watching the inbox tree with watchdog: inotify, or a polling observer (configured for network
filesystems, or as the fallback when inotify cannot be used at all). Events are handed to a
callback from watchdog's threads; the daemon's own thread does all the work.

With inotify every folder takes one watch. Each watch watchdog adds (at the start, for folders
created or moved in later, after a queue overflow) goes through ``_CheckedInotify``, which
records the folders that could not be watched (the watch limit, a folder the daemon may not read)
as ``Refusal``\\ s for the daemon to poll; watchdog itself would pass most of them over silently.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyEmitter
from watchdog.observers.inotify_c import CallbackId, InotifyFD, Mask, WatchCallback, WatchDescriptor
from watchdog.observers.polling import PollingObserver

EVENTS = [FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileMovedEvent,
          FileDeletedEvent, DirCreatedEvent, DirMovedEvent, DirDeletedEvent]
"""The events asked for (open, read and close-without-write events are never needed)."""

WATCH_LIMITS = (("fs.inotify.max_user_watches", Path("/proc/sys/fs/inotify/max_user_watches")),
                ("user.max_inotify_watches", Path("/proc/sys/user/max_inotify_watches")))
"""The sysctls that bound a user's inotify watches: the system-wide one and (Linux 5.11 and later)
the one of the user namespace the daemon runs in, which is the same as the first outside containers."""


@dataclass(frozen=True)
class Refusal:
    """A folder inotify could not watch: ``error`` is the ``OSError`` of ``inotify_add_watch``
    (``ENOSPC``: the watch limit, ``EACCES``: no read permission, ``ENOENT``: gone meanwhile)."""

    path: str
    error: OSError

    @property
    def at_limit(self) -> bool:
        """True for the watch (ENOSPC) or instance (EMFILE) limit, False for a problem of the folder."""
        return self.error.errno in (errno.ENOSPC, errno.EMFILE)


def watch_limit() -> tuple[str, int] | None:
    """The lowest inotify watch limit that applies to this process: ``(sysctl name, watches)``,
    or None where no limit can be read (not Linux, no /proc)."""
    limits = []
    for name, path in WATCH_LIMITS:
        try:
            limits.append((int(path.read_text()), name))
        except (OSError, ValueError):
            continue
    if not limits:
        return None
    value, name = min(limits)
    return name, value


class _NotWatched(OSError):
    """Raised to watchdog for a sub-folder that could not be watched: an OSError without an errno,
    which watchdog passes over (it would abort the whole start on a limit errno)."""


class _CheckedInotify(InotifyFD):
    """watchdog's inotify instance, which reports every watch it cannot add to ``refused``.

    A refusal of the watched root is raised as it is (the start fails); a refusal of a folder below
    it is raised as ``_NotWatched``, so that watchdog watches the rest of the tree.
    """

    def __init__(self, root: Path, refused: Callable[[Refusal], None]) -> None:
        super().__init__()
        self.root = os.fsencode(root)
        self.refused = refused

    def add_callback(self, path: bytes, mask: Mask, callback: WatchCallback, id_: CallbackId) -> WatchDescriptor:
        try:
            wd = super().add_callback(path, mask, callback, id_)
            if wd == -1:  # watchdog ignores EACCES and keeps a watch of descriptor -1: drop it
                self.remove_callbacks([(wd, id_)])
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        except OSError as exc:
            if os.path.normpath(path) == os.path.normpath(self.root):
                raise
            self.refused(Refusal(os.fsdecode(path), exc))
            raise _NotWatched(f"cannot watch {path!r}: {exc}") from exc
        return wd


class _InotifyObserver(BaseObserver):
    """An inotify observer on one ``_CheckedInotify`` instance, which it stops with itself."""

    def __init__(self, inotify: _CheckedInotify) -> None:
        super().__init__(InotifyEmitter, inotify_fd=inotify)
        self.inotify = inotify

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self.inotify.stop()
        if self.inotify.is_alive():
            self.inotify.join(timeout=5)


class _Forward(FileSystemEventHandler):
    def __init__(self, sink: Callable[[FileSystemEvent], None]) -> None:
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.sink(event)


class Watcher:
    """A recursive watch on one directory, restartable (a new observer each start)."""

    def __init__(self, root: Path, sink: Callable[[FileSystemEvent], None], *, polling: bool,
                 poll_interval: float) -> None:
        self.root = root
        self.polling = polling
        self.poll_interval = poll_interval
        self._handler = _Forward(sink)
        self._observer: BaseObserver | None = None
        self._lock = threading.Lock()
        self._refusals: list[Refusal] = []

    @property
    def mode(self) -> str:
        """``"inotify"`` or ``"polling"``."""
        return "polling" if self.polling else "inotify"

    def start(self) -> None:
        """Start a fresh observer on the root (stopping any running one).

        With inotify, the folders below the root that cannot be watched are left out (see
        ``refusals``), those the start found before it returns.

        Raises:
            OSError: the root cannot be watched: it is missing (ENOENT, ENOTDIR), or inotify's
                limits are reached (EMFILE: instances, ENOSPC: watches), or another error.
        """
        self.stop()
        self.refusals()  # those of an earlier observer are out of date
        observer: BaseObserver
        if self.polling:
            observer = PollingObserver(timeout=self.poll_interval)
        else:
            inotify = _CheckedInotify(self.root, self._refused)  # EMFILE: the instance limit
            inotify.start()
            observer = _InotifyObserver(inotify)
        try:
            observer.schedule(self._handler, str(self.root), recursive=True, event_filter=EVENTS)
            observer.start()
        except BaseException:
            observer.stop()
            raise
        self._observer = observer

    def _refused(self, refusal: Refusal) -> None:
        with self._lock:
            self._refusals.append(refusal)

    def refusals(self) -> list[Refusal]:
        """The folders inotify could not watch since the last call, oldest first (thread-safe).

        A folder created later is refused before watchdog reports its creation."""
        with self._lock:
            refusals, self._refusals = self._refusals, []
        return refusals

    def use_polling(self) -> None:
        """Switch to the polling observer from the next ``start``."""
        self.polling = True

    def running(self) -> bool:
        """True while the observer and all its emitters (and its inotify reader) are alive."""
        observer = self._observer
        if observer is None or not observer.is_alive() or not all(e.is_alive() for e in observer.emitters):
            return False
        return not isinstance(observer, _InotifyObserver) or observer.inotify.is_alive()

    def stop(self) -> None:
        """Stop the observer (if any) and wait for it, at most 5 s."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout=5)
