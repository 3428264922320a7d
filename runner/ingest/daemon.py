"""The ``spoolscribe ingest`` daemon: every complete file dropped into the inbox becomes one job.

One thread does all the work; watchdog's threads only put events into a queue. The loop:

- checks every second that the inbox is there and watched (an unmounted share, a removed and
  re-created folder, a dead observer: watching starts again and the tree is rescanned);
- turns events into observations of files, and walks the whole tree every
  ``inbox_rescan_interval`` seconds as a safety net;
- takes each file whose quiet period has passed (``stability``) and delivers it (``delivery``).

Problems are logged once, when they start, and survived. With inotify, every folder needs a
watch: a folder that cannot be watched (the watch limit, a folder the daemon may not read) is
logged with what to do and walked every ``inbox_poll_interval`` seconds instead, until watching it
works again (tried at each safety-net walk, and as soon as an unreadable folder can be read). A
file the safety-net walk finds in a watched folder that no event announced (a network filesystem
written by other machines) switches the daemon to polling, with one warning.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import queue
import signal
import stat as stat_module
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO, cast

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from runner.core.errors import SpoolscribeError
from runner.core.fsutil import UnusableNameError
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.store import JobStore
from runner.core.text import printable
from runner.ingest.delivery import Delivery, Outcome
from runner.ingest.folders import SETTINGS_FILE, FolderSettingsError
from runner.ingest.problems import Problems
from runner.ingest.rules import IgnoreRules
from runner.ingest.stability import FileKey, StabilityTracker, file_key
from runner.ingest.watcher import Refusal, Watcher, watch_limit

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0
"""Seconds between two checks that the inbox is there and watched."""
MISSED_EVENT_GRACE = 5.0
"""A file changed at least this many seconds before a walk found it should have had its event."""
MAX_WAIT = 0.5
"""Longest the loop sleeps between two looks at the clock (seconds)."""


class IngestError(SpoolscribeError):
    """The daemon cannot start (another one runs on the same data root)."""


class IngestDaemon:
    """Watches ``settings.inbox_dir`` and queues each complete media file once.

    ``name`` appears in every log line (``ingest <name>: ...``).
    """

    def __init__(self, settings: Settings, store: JobStore, spool: Spool, name: str) -> None:
        self.settings, self.name = settings, name
        self.inbox = settings.inbox_dir
        excluded = [settings.home, *([settings.outbox_dir] if settings.outbox_dir else [])]
        self.rules = IgnoreRules(self.inbox, settings.inbox_extensions, excluded)
        self.delivery = Delivery.for_settings(settings, store, spool)
        self.tracker = StabilityTracker(settings.inbox_quiet, settings.inbox_close_quiet)
        self.problems = Problems(log)
        self.events: queue.SimpleQueue[FileSystemEvent] = queue.SimpleQueue()
        self.watcher = Watcher(self.inbox, self.events.put, polling=settings.inbox_polling,
                               poll_interval=settings.inbox_poll_interval)
        self.taken: dict[str, tuple[int, int]] = {}
        """path -> (size, mtime_ns) of the version last taken (queued or found a duplicate)."""
        self.held: dict[str, tuple[FileKey, int, str]] = {}
        """path -> (key, ctime_ns, reason) of files that could not be taken: skipped until they change."""
        self._inbox_id: tuple[int, int] | None = None
        """(st_dev, st_ino) of the watched inbox directory; None while it is not watched."""
        self._restart = False
        self._watching_since = 0.0
        self._unannounced: dict[str, float] = {}
        """path -> ctime of new files a walk found before any event announced them (inotify only)."""
        self.unwatched: dict[str, Refusal] = {}
        """folder -> why inotify could not watch it; these folders are walked every poll interval."""
        self._stop = threading.Event()
        self._lock_file: IO[str] | None = None

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Work until SIGTERM or SIGINT; return the exit code (0).

        Raises:
            IngestError: another ingest daemon holds this data root.
        """
        self._take_lock()
        self._install_signals()
        linked, dropped = self.delivery.ledger.recover()
        if linked or dropped:
            log.warning("ingest %s: settled %d interrupted deliveries (%d had their job, %d are taken again)",
                        self.name, linked + dropped, linked, dropped)
        self.taken = self.delivery.ledger.latest_versions()
        log.info("ingest %s: started (inbox %s, quiet period %.1f s, pid %d)", self.name, self.inbox,
                 self.settings.inbox_quiet, os.getpid())
        next_health = next_rescan = next_poll = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_health:
                    self.check_inbox()
                    next_health = now + HEALTH_INTERVAL
                self.note_refusals()
                if self._inbox_id is not None and now >= next_rescan:
                    if next_rescan and self.unwatched:  # try again to watch them (and walk all)
                        self._retry_watching()
                    elif next_rescan:  # the first walk ran when watching started
                        self.rescan()
                    next_rescan = now + self.settings.inbox_rescan_interval
                if self.unwatched and now >= next_poll:
                    self.poll_unwatched()
                    next_poll = now + self.settings.inbox_poll_interval
                self.take_due()
                self.wait_for_events(min(next_health, self.tracker.next_due() or next_health))
        finally:
            self.watcher.stop()
            log.info("ingest %s: stopped", self.name)
        return 0

    def stop(self) -> None:
        """Ask the loop to end (thread-safe)."""
        self._stop.set()

    def wait_for_events(self, until: float) -> None:
        """Handle events as they come until the monotonic time ``until`` (at most ``MAX_WAIT`` s)."""
        timeout = min(MAX_WAIT, max(0.0, until - time.monotonic()))
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        self.on_event(event)
        self.drain_events()

    def drain_events(self) -> None:
        """Handle every event already queued."""
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self.on_event(event)

    # -- the inbox itself ------------------------------------------------------------------------

    def check_inbox(self, quiet: bool = False) -> None:
        """Notice the inbox going away or coming back, a replaced inbox and a dead observer
        (``quiet``: a watch started again logs no "watching" line)."""
        try:
            info = os.stat(self.inbox)
            if not stat_module.S_ISDIR(info.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory")
        except OSError as exc:
            self._lost_inbox(exc)
            return
        identity = (info.st_dev, info.st_ino)
        if identity != self._inbox_id or self._restart or not self.watcher.running():
            self._start_watching(identity, quiet)

    def _lost_inbox(self, exc: OSError) -> None:
        if self._inbox_id is not None:
            self.watcher.stop()
            self._inbox_id = None
        self.problems.report(("inbox",), "ingest %s: the inbox %s is not available (%s); waiting for it to come back",
                             self.name, self.inbox, exc.strerror or exc)

    def _start_watching(self, identity: tuple[int, int], quiet: bool) -> None:
        try:
            self.watcher.start()
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                self._lost_inbox(exc)
                return
            if exc.errno == errno.EMFILE and not self.watcher.polling:
                self._fall_back_to_polling(f"{exc.strerror or exc}; raise the sysctl "
                                           "fs.inotify.max_user_instances to use inotify")
                return
            if exc.errno == errno.ENOSPC and not self.watcher.polling:
                self._fall_back_to_polling(f"{exc.strerror or exc}; {self._limit_advice()}")
                return
            self.problems.report(("watch",), "ingest %s: cannot watch %s (%s); trying again",
                                 self.name, self.inbox, exc.strerror or exc)
            return
        self.problems.resolve(("watch",), "ingest %s: watching %s works again", self.name, self.inbox)
        self.problems.resolve(("inbox",), "ingest %s: the inbox %s is back; looking for new files", self.name,
                              self.inbox)
        self._inbox_id, self._restart = identity, False
        self._watching_since = time.time()
        if not quiet:
            log.info("ingest %s: watching %s (%s)", self.name, self.inbox, self.watcher.mode)
        self._unannounced.clear()
        self.unwatched.clear()
        self.note_refusals(started=True)
        self.rescan(initial=True)

    def _retry_watching(self) -> None:
        """Start watching anew (quietly): every folder is tried again, and the whole tree walked."""
        self._restart = True
        self.check_inbox(quiet=True)

    def _fall_back_to_polling(self, reason: str) -> None:
        log.warning("ingest %s: inotify cannot be used for %s (%s); polling every %.1f s instead (set "
                    "SPOOLSCRIBE_INBOX_POLLING=1 to choose polling)", self.name, self.inbox, reason,
                    self.settings.inbox_poll_interval)
        self.watcher.use_polling()
        self._restart = True
        self.check_inbox()

    # -- folders inotify cannot watch ----------------------------------------------------------

    def note_refusals(self, started: bool = False) -> None:
        """Take in the folders the watcher could not watch; log what is new, and (``started``: a
        fresh observer's refusals are all there is) what works again."""
        refusals = self.watcher.refusals()
        if not refusals and not started:
            return
        for refusal in refusals:
            folder = Path(refusal.path)
            if refusal.error.errno in (errno.ENOENT, errno.ENOTDIR):
                continue  # gone meanwhile
            if folder.is_relative_to(self.inbox) and not self.rules.ignored_directory(folder):
                self.unwatched[refusal.path] = refusal
        if started:
            self._resolve_watched()
        at_limit = [path for path, refusal in self.unwatched.items() if refusal.at_limit]
        if at_limit and ("unwatched", "limit") not in self.problems:
            self.problems.report(("unwatched", "limit"), "ingest %s: the inotify watch limit is reached: %d folder(s) "
                                 "of the inbox are not watched, such as %s; their files are looked for every %.1f s "
                                 "instead. Each folder takes one watch: %s", self.name, len(at_limit),
                                 printable(at_limit[0]), self.settings.inbox_poll_interval,
                                 self._limit_advice(len(at_limit)))
        for path, refusal in self.unwatched.items():
            if not refusal.at_limit:
                self.problems.report(("unwatched", path), "ingest %s: cannot watch the folder %s (%s); its files are "
                                     "looked for every %.1f s until it can be watched", self.name, printable(path),
                                     refusal.error.strerror or refusal.error, self.settings.inbox_poll_interval)

    def _resolve_watched(self) -> None:
        """Log the end of every problem of an unwatched folder that is no longer unwatched."""
        if not any(refusal.at_limit for refusal in self.unwatched.values()):
            self.problems.resolve(("unwatched", "limit"), "ingest %s: every folder of the inbox is watched again "
                                  "(inotify)", self.name)
        for key in self.problems.matching(lambda key: key[0] == "unwatched" and key[1] != "limit"):
            folder = cast(tuple[str, str], key)[1]
            if folder not in self.unwatched:
                self.problems.resolve(key, "ingest %s: the folder %s is watched again (inotify)", self.name,
                                      printable(folder))

    @staticmethod
    def _limit_advice(needed: int = 0) -> str:
        """What to raise, by at least ``needed`` watches (0: unknown), with the limit's value."""
        limit = watch_limit()
        if limit is None:
            return "raise the sysctl fs.inotify.max_user_watches"
        name, value = limit
        by = f" by at least {needed}" if needed else ""
        if name == "fs.inotify.max_user_watches":
            return (f"raise the sysctl fs.inotify.max_user_watches (now {value}){by} (sysctl -w "
                    f"fs.inotify.max_user_watches={max(value + needed, 2 * value)}, and a file in /etc/sysctl.d/ "
                    "to keep it)")
        return (f"raise the limit of this user namespace, the sysctl {name} (now {value}){by}, "
                "or fs.inotify.max_user_watches on the host")

    def _below_unwatched(self, path: str) -> bool:
        """True if the file or folder at ``path`` lies in a folder inotify could not watch."""
        return any(str(folder) in self.unwatched for folder in Path(path).parents)

    def poll_unwatched(self) -> None:
        """Walk the folders inotify could not watch (the topmost ones; the others lie below them).

        A folder gone is forgotten; once a folder unreadable before can be listed, watching is tried again.
        """
        readable_again = gone = False
        tops: list[str] = []
        for path in sorted(self.unwatched):
            if tops and Path(path).is_relative_to(tops[-1]):
                continue
            if not os.path.isdir(path):
                del self.unwatched[path]
                self.problems.resolve(("unwatched", path))
                gone = True
                continue
            tops.append(path)
            unreadable = ("dir", path) in self.problems
            self.rescan(initial=True, top=Path(path))
            if unreadable and ("dir", path) not in self.problems:
                readable_again = True
        if gone:
            self._resolve_watched()
        if readable_again and not self.watcher.polling:
            self._retry_watching()

    # -- finding files -----------------------------------------------------------------------------

    def rescan(self, initial: bool = False, top: Path | None = None) -> None:
        """Walk the tree below ``top`` (default: the inbox) and observe every wanted file.

        With inotify, a file a periodic (not ``initial``) walk finds before any event announced it
        is noted; if no event comes for it within ``MISSED_EVENT_GRACE`` seconds of its change,
        inotify misses files and polling takes over (``_check_missed``).
        """
        self.drain_events()
        released = set()
        if top is None:  # files waiting for a fixed settings file are looked at again
            released = {p for p, (_, _, reason) in self.held.items() if reason == "settings"}
            for held_path in released:
                del self.held[held_path]
        noting = not initial and not self.watcher.polling
        stack = [(top or self.inbox, False)]
        while stack:
            directory, below_unwatched = stack.pop()
            polled = below_unwatched or str(directory) in self.unwatched  # no events expected there
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.problems.report(("dir", str(directory)), "ingest %s: cannot list %s (%s); its files wait",
                                     self.name, printable(directory), exc.strerror or exc)
                continue
            self.problems.resolve(("dir", str(directory)))
            for entry in entries:
                path = Path(entry.path)
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not self.rules.ignored_directory(path):
                            stack.append((path, polled))
                    elif self.rules.wanted(path):
                        info = entry.stat(follow_symlinks=False)
                        if self.observe(entry.path, info) and noting and not polled and entry.path not in released:
                            self._unannounced[entry.path] = info.st_ctime
                except OSError:
                    continue  # gone between the listing and the stat
        if noting and top is None:
            self._check_missed()

    def _check_missed(self) -> None:
        """Fall back to polling if a file a walk found still had no event long after its change."""
        cutoff = time.time() - MISSED_EVENT_GRACE
        missed = [path for path, changed in self._unannounced.items()
                  if self._watching_since < changed < cutoff and not self._below_unwatched(path)]
        self._unannounced = {path: changed for path, changed in self._unannounced.items() if changed >= cutoff}
        if missed and not self.watcher.polling:
            self._unannounced.clear()
            self._fall_back_to_polling(f"no event came for {len(missed)} new file(s) in watched folders, such as "
                                       f"{printable(missed[0])}: the inbox seems to be on a network filesystem "
                                       "written by other machines")

    def on_event(self, event: FileSystemEvent) -> None:
        """Turn one watchdog event into observations of files (and folders)."""
        source = os.fsdecode(event.src_path)
        if isinstance(event, (DirDeletedEvent, DirMovedEvent)) and Path(source) == self.inbox:
            self._restart = True  # the inbox itself went away: check_inbox finds out what is there now
            return
        if isinstance(event, (DirDeletedEvent, DirMovedEvent)):
            self.tracker.forget_below(source)
        if isinstance(event, (FileDeletedEvent, FileMovedEvent)):
            self.tracker.forget(source)
            self.held.pop(source, None)
        target = os.fsdecode(event.dest_path) if isinstance(event, (FileMovedEvent, DirMovedEvent)) else source
        self._unannounced.pop(target, None)  # announced after all, only late
        if isinstance(event, (DirCreatedEvent, DirMovedEvent)):
            self._look_into(Path(target))
        elif Path(target).name == SETTINGS_FILE and not isinstance(event, FileDeletedEvent):
            self._settings_changed(Path(target).parent)
        elif not isinstance(event, FileDeletedEvent) and self.rules.wanted(Path(target)):
            self._observe_path(target, written=not isinstance(event, FileClosedEvent),
                               closed=isinstance(event, FileClosedEvent))

    def _look_into(self, directory: Path) -> None:
        if directory.is_relative_to(self.inbox) and not self.rules.ignored_directory(directory):
            self.rescan(initial=True, top=directory)

    def _settings_changed(self, directory: Path) -> None:
        prefix = str(directory) + os.sep
        for path in [p for p, (_, _, reason) in self.held.items() if reason == "settings" and p.startswith(prefix)]:
            del self.held[path]
        self.problems.resolve_matching(lambda key: key[0] == "settings" and str(key[1]).startswith(prefix))
        self._look_into(directory)

    def _stat(self, path: str) -> os.stat_result | None:
        """The file's stat; None, and it is no longer watched, when it is gone or cannot be looked at."""
        try:
            return os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.problems.report(("file", path), "ingest %s: cannot look at %s (%s)", self.name, printable(path),
                                 exc.strerror)
        self.tracker.forget(path)
        return None

    def _observe_path(self, path: str, written: bool = False, closed: bool = False) -> None:
        info = self._stat(path)
        if info is not None:
            self.observe(path, info, written=written, closed=closed)

    def observe(self, path: str, info: os.stat_result, written: bool = False, closed: bool = False) -> bool:
        """Note a wanted file as seen now; True if it was not known before (newly watched)."""
        if not stat_module.S_ISREG(info.st_mode):
            return False
        if self.taken.get(path) == (info.st_size, info.st_mtime_ns):
            return False
        key = file_key(info)
        held = self.held.get(path)
        if held is not None:
            if held[:2] == (key, info.st_ctime_ns):
                return False
            del self.held[path]
        new = path not in self.tracker
        self.tracker.observe(path, key, time.monotonic(), written=written, closed=closed)
        return new

    # -- taking files ------------------------------------------------------------------------------

    def take_due(self) -> None:
        """Take every watched file whose quiet period has passed and whose stat confirms it."""
        now = time.monotonic()
        for path in self.tracker.due(now):
            if self._stop.is_set():
                return
            info = self._stat(path)
            if info is not None and self.tracker.confirm(path, file_key(info), now):
                self.take(Path(path), info)

    def take(self, path: Path, info: os.stat_result) -> None:
        """Deliver one stable file; log what happened; never raise."""
        key = str(path)
        try:
            result = self.delivery.deliver(path, info)
        except FolderSettingsError as exc:
            self.held[key] = (file_key(info), info.st_ctime_ns, "settings")
            self.problems.report(("settings", str(exc.path)), "ingest %s: %s; the files below it wait until it "
                                 "is fixed", self.name, printable(exc))
            return
        except FileNotFoundError:
            log.info("ingest %s: %s vanished before it could be taken", self.name, printable(path))
            return
        except UnusableNameError as exc:
            self.held[key] = (file_key(info), info.st_ctime_ns, "file")
            self.problems.report(("file", key), "ingest %s: not taken: %s", self.name, exc)
            return
        except OSError as exc:
            if exc.filename == key:  # the user's file itself (permission denied, I/O error)
                self.held[key] = (file_key(info), info.st_ctime_ns, "file")
                self.problems.report(("file", key), "ingest %s: cannot read %s (%s); it is skipped until it "
                                     "changes", self.name, printable(path), exc.strerror or exc)
                return
            self._retry_later(key, info, exc)
            return
        except Exception as exc:  # the database (locked past its timeout, ...)
            self._retry_later(key, info, exc)
            return
        self.problems.resolve(("file", key))
        self.problems.resolve(("spool",), "ingest %s: delivering to the spool works again", self.name)
        if result.outcome is Outcome.CHANGED:
            self._observe_path(key, written=True)
            return
        self.taken[key] = (info.st_size, info.st_mtime_ns)
        if result.outcome is Outcome.QUEUED and result.superseded:
            log.info("ingest %s: job %s queued for %s, a newer version: it supersedes job(s) %s", self.name,
                     result.job_id, printable(path), ", ".join(result.superseded))
        elif result.outcome is Outcome.QUEUED:
            log.info("ingest %s: job %s queued for %s", self.name, result.job_id, printable(path))
        elif result.outcome is Outcome.DUPLICATE:
            log.info("ingest %s: job %s already has the content of %s; not queued again "
                     "(spoolscribe ingest --force to queue it anyway)", self.name, result.job_id, printable(path))
        elif result.outcome is Outcome.EMPTY:
            log.info("ingest %s: %s is empty; it is taken once it has content", self.name, printable(path))

    def _retry_later(self, path: str, info: os.stat_result, exc: Exception) -> None:
        """A problem of the spool or the job store, not of the file: it waits another quiet period."""
        self.tracker.observe(path, file_key(info), time.monotonic(), written=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0][:200]
        log.debug("ingest %s: cannot deliver %s", self.name, printable(path), exc_info=exc)
        self.problems.report(("spool",), "ingest %s: cannot deliver files to the spool or the job store (%s: %s); "
                             "they are tried again", self.name, type(exc).__name__, printable(reason))

    # -- process ---------------------------------------------------------------------------------

    def _take_lock(self) -> None:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        # the lock is held for the life of the process (released when it exits), so no `with`
        handle = open(self.settings.home / "ingest.lock", "a+")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise IngestError(f"another spoolscribe ingest is running on {self.settings.home}") from None
        self._lock_file = handle

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stop.set()
