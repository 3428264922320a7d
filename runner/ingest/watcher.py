"""Watching the inbox tree with watchdog: inotify, or a polling observer (configured for network
filesystems, or as the fallback when inotify cannot be used). Events are handed to a callback
from watchdog's threads; the daemon's own thread does all the work."""

from __future__ import annotations

from collections.abc import Callable
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
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

EVENTS = [FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileMovedEvent,
          FileDeletedEvent, DirCreatedEvent, DirMovedEvent, DirDeletedEvent]
"""The events asked for (open, read and close-without-write events are never needed)."""


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

    @property
    def mode(self) -> str:
        """``"inotify"`` or ``"polling"``."""
        return "polling" if self.polling else "inotify"

    def start(self) -> None:
        """Start a fresh observer on the root (stopping any running one).

        Raises:
            OSError: the root cannot be watched: it is missing (ENOENT, ENOTDIR), or inotify's
                limits are reached (EMFILE: instances, ENOSPC: watches), or another error.
        """
        self.stop()
        observer = PollingObserver(timeout=self.poll_interval) if self.polling else Observer()
        try:
            observer.schedule(self._handler, str(self.root), recursive=True, event_filter=EVENTS)
            observer.start()
        except BaseException:
            observer.stop()
            raise
        self._observer = observer

    def use_polling(self) -> None:
        """Switch to the polling observer from the next ``start``."""
        self.polling = True

    def running(self) -> bool:
        """True while the observer and all its emitters are alive."""
        observer = self._observer
        return observer is not None and observer.is_alive() and all(e.is_alive() for e in observer.emitters)

    def stop(self) -> None:
        """Stop the observer (if any) and wait for it, at most 5 s."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout=5)
