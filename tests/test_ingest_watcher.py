"""Watching the inbox on real folders: the watcher reports every folder it cannot watch (the
inotify watch limit, a folder it may not read) and watches the rest of the tree, folders created
later too; the ingest daemon (in-process, real database and spool) polls only those folders, says
which sysctl to raise, and watches a folder again once it can.

The kernel's limits cannot be lowered for this process alone, so those tests run in a child forked
from it into a new user namespace (Linux 5.11 and later: ``/proc/sys/user/max_inotify_watches``
is per namespace), the same code with the limit of ``watches``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import pickle
import queue
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from conftest import DATA, wait_for
from watchdog.events import DirCreatedEvent, FileSystemEvent

from runner.cli.app import App
from runner.core.settings import Settings
from runner.ingest.daemon import IngestDaemon
from runner.ingest.watcher import Watcher, watch_limit

T = TypeVar("T")
CLONE_NEWUSER = 0x10000000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def in_user_namespace(function: Callable[[], T], watches: int | None = None) -> T:
    """``function()`` in a forked child, uid 0 of a new user namespace (mapped to this process's uid)
    without any capability (so the mode bits apply to it as to a service user), with at most
    ``watches`` inotify watches; its result, or an AssertionError with its exception."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one thread (the forking one), so it may enter a new user namespace
        os.close(reading)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            uid, gid = os.getuid(), os.getgid()
            if libc.unshare(CLONE_NEWUSER) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                Path(f"/proc/self/{name}").write_text(text)
            if watches is not None:
                Path("/proc/sys/user/max_inotify_watches").write_text(str(watches))
            if libc.capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), (_CapData * 2)()) != 0:
                raise OSError(ctypes.get_errno(), "capset")
            outcome: tuple[bool, object] = (True, function())
        except BaseException:  # noqa: BLE001 - everything goes back to the test
            outcome = (False, traceback.format_exc())
        with os.fdopen(writing, "wb") as pipe:
            pickle.dump(outcome, pipe)
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    ok, value = pickle.loads(data)
    if not ok:
        raise AssertionError(f"in the user namespace:\n{value}")
    return value


def tree(root: Path, folders: int) -> list[Path]:
    """``folders`` folders below ``root``: ``f<n>/deep`` pairs, the deep one last."""
    made = []
    for number in range(folders // 2):
        (root / f"f{number}" / "deep").mkdir(parents=True)
        made += [root / f"f{number}", root / f"f{number}" / "deep"]
    return made


def started(root: Path) -> tuple[Watcher, queue.SimpleQueue[FileSystemEvent]]:
    events: queue.SimpleQueue[FileSystemEvent] = queue.SimpleQueue()
    watcher = Watcher(root, events.put, polling=False, poll_interval=1.0)
    watcher.start()
    return watcher, events


def wait_for_event(events: queue.SimpleQueue[FileSystemEvent], path: Path, timeout: float = 10.0) -> FileSystemEvent:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            break
        if os.fsdecode(event.src_path) == str(path):
            return event
    raise AssertionError(f"no event for {path} within {timeout} s")


def test_every_folder_is_watched_also_one_created_later(tmp_path):
    tree(tmp_path, 20)
    watcher, events = started(tmp_path)
    try:
        assert watcher.running() and watcher.refusals() == []
        (tmp_path / "later" / "deeper").mkdir(parents=True)
        wait_for_event(events, tmp_path / "later")
        (tmp_path / "later" / "deeper" / "talk.wav").write_bytes(b"RIFF")
        wait_for_event(events, tmp_path / "later" / "deeper" / "talk.wav")
        assert watcher.refusals() == []
    finally:
        watcher.stop()


def test_folders_beyond_the_watch_limit_are_refused_and_the_others_watched(tmp_path):
    folders = tree(tmp_path, 20)

    def run() -> dict[str, object]:
        watcher, events = started(tmp_path)  # 5 watches: the root and 4 folders
        try:
            refused = watcher.refusals()
            watched = [folder for folder in folders if str(folder) not in {r.path for r in refused}]
            (watched[-1] / "talk.wav").write_bytes(b"RIFF")
            wait_for_event(events, watched[-1] / "talk.wav")
            (tmp_path / "later").mkdir()
            created = wait_for_event(events, tmp_path / "later")  # reported by its watched parent
            later = watcher.refusals()  # the refusal comes before the event
            return {"refused": [(r.path, r.error.errno, r.at_limit) for r in refused], "watched": len(watched),
                    "created": isinstance(created, DirCreatedEvent), "running": watcher.running(),
                    "later": [(r.path, r.error.errno) for r in later], "limit": watch_limit()}
        finally:
            watcher.stop()

    seen = in_user_namespace(run, watches=5)
    assert seen["watched"] == 4 and seen["running"] and seen["created"]
    assert len(seen["refused"]) == 16
    assert {(errno_, at_limit) for _, errno_, at_limit in seen["refused"]} == {(errno.ENOSPC, True)}
    assert seen["later"] == [(str(tmp_path / "later"), errno.ENOSPC)]
    assert seen["limit"] == ("user.max_inotify_watches", 5)


def test_an_unreadable_folder_is_refused_with_its_reason_and_watched_once_readable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)

    def run() -> dict[str, object]:
        watcher, events = started(tmp_path)
        try:
            refused = [(r.path, r.error.errno, r.at_limit) for r in watcher.refusals()]
            (tmp_path / "top.wav").write_bytes(b"RIFF")  # the rest is watched
            wait_for_event(events, tmp_path / "top.wav")
            locked.chmod(0o755)
            watcher.start()  # a fresh start watches it
            again = watcher.refusals()
            (locked / "talk.wav").write_bytes(b"RIFF")
            wait_for_event(events, locked / "talk.wav")
            return {"refused": refused, "again": again, "running": watcher.running()}
        finally:
            watcher.stop()

    seen = in_user_namespace(run)
    assert seen == {"refused": [(str(locked), errno.EACCES, False)], "again": [], "running": True}


# -- the daemon ------------------------------------------------------------------------------------

QUICK = {"SPOOLSCRIBE_INBOX_QUIET": "0.5", "SPOOLSCRIBE_INBOX_CLOSE_QUIET": "0.5",
         "SPOOLSCRIBE_INBOX_POLL_INTERVAL": "0.5"}
"""The safety-net walk keeps its 60 s: a file found within seconds was found by an event or a poll."""


class Lines(logging.Handler):
    """The daemon's log lines, kept."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


@contextlib.contextmanager
def running_daemon(settings: Settings) -> Iterator[tuple[IngestDaemon, App, Lines]]:
    """An ingest daemon working in a thread on ``settings``, with its log lines (stopped at the end)."""
    app = App(settings)
    daemon = IngestDaemon(settings, app.store, app.spool, "t")
    lines, logger = Lines(), logging.getLogger("runner.ingest.daemon")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        wait_for(lambda: lines.count("watching"), 30, what="watching")
        yield daemon, app, lines
    finally:
        daemon.stop()
        thread.join(timeout=30)
        logger.removeHandler(lines)


def taken(lines: Lines, path: Path, timeout: float = 10.0) -> float:
    """Seconds until the daemon took the file at ``path`` (queued it, or found its content queued
    before), at most ``timeout``."""
    start = time.monotonic()
    wait_for(lambda: lines.count(f"queued for {path}") or lines.count(f"has the content of {path};"), timeout,
             0.05, f"{path} taken")
    return time.monotonic() - start


def test_the_daemon_polls_only_the_folders_beyond_the_watch_limit_and_names_the_sysctl(env):
    settings = Settings.from_env({**env, **QUICK})
    settings.inbox_dir.mkdir()
    tree(settings.inbox_dir, 40)

    def run() -> dict[str, object]:
        with running_daemon(settings) as (daemon, _, lines):
            deep = settings.inbox_dir / "f19" / "deep"
            unwatched = str(deep) in daemon.unwatched, len(daemon.unwatched)
            shutil.copyfile(DATA / "jfk.flac", deep / "talk.flac")
            polled = taken(lines, deep / "talk.flac")
            (settings.inbox_dir / "later" / "deeper").mkdir(parents=True)  # beyond the limit too
            shutil.copyfile(DATA / "jfk.flac", settings.inbox_dir / "later" / "deeper" / "again.flac")
            later = taken(lines, settings.inbox_dir / "later" / "deeper" / "again.flac")
            return {"unwatched": unwatched, "polled": polled, "later": later, "lines": lines.lines,
                    "mode": daemon.watcher.mode}

    seen = in_user_namespace(run, watches=10)  # the inbox and 9 folders
    assert seen["unwatched"] == (True, 31)
    assert seen["polled"] < 5 and seen["later"] < 5  # the quiet period (0.5 s) and a poll (0.5 s), not 60 s
    assert seen["mode"] == "inotify"
    lines = seen["lines"]
    limit = [line for line in lines if "inotify watch limit is reached" in line]
    assert len(limit) == 1, lines
    assert "31 folder(s) of the inbox are not watched" in limit[0]
    assert "user.max_inotify_watches (now 10) by at least 31" in limit[0]
    assert "fs.inotify.max_user_watches" in limit[0]
    assert not any("inotify cannot be used" in line for line in lines)


def test_a_folder_unreadable_for_a_while_is_polled_then_watched_again(env):
    settings = Settings.from_env({**env, **QUICK})
    settings.inbox_dir.mkdir()
    locked = settings.inbox_dir / "locked"

    def run() -> dict[str, object]:
        with running_daemon(settings) as (daemon, _, lines):
            locked.mkdir(mode=0)
            wait_for(lambda: lines.count("cannot watch the folder"), 10, what="the unwatched folder logged")
            refused = str(locked) in daemon.unwatched
            locked.chmod(0o755)
            shutil.copyfile(DATA / "jfk.flac", locked / "first.flac")
            first = taken(lines, locked / "first.flac")
            wait_for(lambda: lines.count("is watched again (inotify)"), 10, what="watched again")
            watched = str(locked) not in daemon.unwatched
            shutil.copyfile(DATA / "jfk.flac", locked / "second.flac")  # an event: no poll looks there now
            second = taken(lines, locked / "second.flac")
            return {"refused": refused, "watched": watched, "first": first, "second": second,
                    "lines": lines.lines, "mode": daemon.watcher.mode}

    seen = in_user_namespace(run)
    assert seen["refused"] and seen["watched"] and seen["mode"] == "inotify"
    assert seen["first"] < 5 and seen["second"] < 5
    lines = seen["lines"]
    assert [line for line in lines if "cannot watch the folder" in line] == [
        f"ingest t: cannot watch the folder {locked} (Permission denied); its files are looked for every "
        "0.5 s until it can be watched"]
    assert sum("watching" in line for line in lines) == 1  # watching again was quiet
    assert not any("inotify cannot be used" in line or "limit" in line for line in lines)


def test_folders_beyond_the_watch_limit_are_watched_once_watches_are_free_again(env):
    settings = Settings.from_env({**env, **QUICK, "SPOOLSCRIBE_INBOX_RESCAN_INTERVAL": "1"})
    settings.inbox_dir.mkdir()
    folders = tree(settings.inbox_dir, 12)

    def run() -> dict[str, object]:
        with running_daemon(settings) as (daemon, _, lines):
            unwatched = sorted(daemon.unwatched)
            pairs = [f for f in folders if f.name != "deep" and not {str(f), str(f / "deep")} & set(unwatched)]
            for pair in pairs[:2]:  # four watches free again: the next safety-net walk watches the 3 others
                (pair / "deep").rmdir()
                pair.rmdir()
            wait_for(lambda: lines.count("every folder of the inbox is watched again (inotify)"), 10,
                     what="watched again")
            return {"unwatched": unwatched, "now": dict(daemon.unwatched), "lines": lines.lines}

    seen = in_user_namespace(run, watches=10)  # the inbox and 9 of 12 folders
    assert len(seen["unwatched"]) == 3 and seen["now"] == {}
    assert sum("watch limit is reached" in line for line in seen["lines"]) == 1
    assert sum("watching" in line for line in seen["lines"]) == 1
