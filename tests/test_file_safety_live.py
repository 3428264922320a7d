"""The file-side attacks on a running service (loopback only): real ``spoolscribe ingest`` and runner
processes and gunicorn, real files, and what must come of each attack."""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import struct
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import DATA, wait_for

from runner.core.fsutil import temporary_name

pytestmark = pytest.mark.slow

OTHER_UID = 12345
AT_FDCWD, RENAME_EXCHANGE = -100, 2
LIBC = ctypes.CDLL(None, use_errno=True)
SWAPS, SWAP_SECONDS = 200, 20.0


def exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE): neither is ever missing."""
    if LIBC.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), str(a))


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class ReadWatch:
    """inotify on a folder: the names of files someone opened read-only and has just closed."""

    IN_CLOSE_NOWRITE = 0x10

    def __init__(self, folder: Path) -> None:
        self.fd = LIBC.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        assert self.fd >= 0 and LIBC.inotify_add_watch(self.fd, os.fsencode(folder), self.IN_CLOSE_NOWRITE) >= 0

    def closed(self, timeout: float) -> list[str]:
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        data, names, offset = os.read(self.fd, 65536), [], 0
        while offset < len(data):
            _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            names.append(data[offset + 16:offset + 16 + length].rstrip(b"\0").decode())
            offset += 16 + length
        return names

    def close(self) -> None:
        os.close(self.fd)


def test_a_symlink_swapped_in_during_delivery_never_leaks_its_target(app, tmp_path, tmpfs, ingesters, web_server):
    """The inbox on another filesystem (a tmpfs: it copies). As soon as the inbox daemon has read a
    file (to hash it, say) and closed it, the file is exchanged with a symbolic link to a secret
    file, and back a moment later; bounded to SWAPS swaps and SWAP_SECONDS."""
    inbox = tmpfs(tmp_path / "inboxfs", "256m")
    assert os.stat(inbox).st_dev != os.stat(app.settings.home).st_dev
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"TOP SECRET, root only\n" * 50_000)
    secret.chmod(0o600)
    link = inbox / ".link"  # hidden names are never taken
    link.symlink_to(secret)
    watch = ReadWatch(inbox)
    extra = {"SPOOLSCRIBE_INBOX": str(inbox), "SPOOLSCRIBE_INBOX_QUIET": "0.2", "SPOOLSCRIBE_INBOX_CLOSE_QUIET": "0.1"}
    daemon = ingesters("ingest", extra_env=extra)
    swaps, attempts, started = 0, 0, time.monotonic()
    try:
        while swaps < SWAPS and time.monotonic() - started < SWAP_SECONDS:
            path = inbox / f"talk{attempts}.wav"
            path.write_bytes(b"RIFF" + os.urandom(1024 * 1024))
            attempts += 1
            deadline = min(time.monotonic() + 5, started + SWAP_SECONDS)
            while time.monotonic() < deadline and path.name not in watch.closed(deadline - time.monotonic()):
                pass
            exchange(path, link)  # the file's name is now the link (the file waits under the hidden name)
            time.sleep(0.05)
            exchange(path, link)
            swaps += 2
    finally:
        watch.close()
    swapping = time.monotonic() - started
    wait_for(lambda: len(app.store.list(limit=500)) == attempts, 60,
             what=f"every file queued once it stays still; log:\n{daemon.log()}")
    server = web_server(extra_env=extra)
    served = {job.original_name: fetch(f"{server.url}/api/jobs/{job.id}/media") for job in app.store.list(limit=500)}
    leaked = sorted(name for name, (_, body) in served.items() if b"TOP SECRET" in body)
    print(f"{swaps} swaps in {swapping:.1f} s over {attempts} files; {len(leaked)} leaked")
    assert leaked == []
    assert all(answer == (200, (inbox / name).read_bytes()) for name, answer in served.items())


def test_a_result_file_replaced_by_a_link_is_never_downloaded(app, inbox, ingesters, runners, web_server, media):
    daemon = ingesters("ingest", extra_env={"SPOOLSCRIBE_INBOX_QUIET": "0.5"})
    shutil.copyfile(media / "jfk3.wav", inbox / "w1.wav")
    wait_for(lambda: app.store.counts()["queued"] == 1, 30, what=f"a queued job; log:\n{daemon.log()}")
    assert runners("r1", "--burst").wait(timeout=180) == 0
    job = app.store.list()[0]
    assert job.status == "succeeded", job.error
    server = web_server()
    url = f"{server.url}/api/jobs/{job.id}/transcript.txt"
    status, body = fetch(url)
    assert status == 200 and b"americans" in body.lower()
    key = app.settings.home / "web-secret-key"
    database = app.settings.home / "spoolscribe.db"
    assert key.exists() and database.exists()
    result = inbox / "w1.txt"
    for target, how in [(key, "symlink"), (database, "symlink"), (key, "hard link")]:
        result.unlink()
        result.symlink_to(target) if how == "symlink" else os.link(target, result)
        status, body = fetch(url)
        assert status == 410, (target, how, body[:200])
        assert key.read_bytes() not in body and b"SQLite format" not in body
        assert b"replaced or changed" in body


def test_a_file_rewritten_in_place_after_queueing_is_a_new_job_and_the_first_keeps_its_snapshot(
        app, inbox, ingesters, runners, media):
    daemon = ingesters("ingest", extra_env={"SPOOLSCRIBE_INBOX_QUIET": "0.5"})
    talk = inbox / "talk.wav"
    shutil.copyfile(media / "jfk3.wav", talk)
    wait_for(lambda: app.store.counts()["queued"] == 1, 30, what=f"v1 queued; log:\n{daemon.log()}")
    inode = talk.stat().st_ino
    shutil.copyfile(DATA / "sample.wav", talk)  # `cp v2.wav talk.wav`: the same inode, new content
    assert talk.stat().st_ino == inode
    wait_for(lambda: app.store.counts()["cancelled"] == 1 and app.store.counts()["queued"] == 1, 30,
             what=f"v2 queued as a new job superseding v1; log:\n{daemon.log()}")
    first, second = sorted(app.store.list(), key=lambda job: job.id)
    assert app.spool.media_path(first.media_path).read_bytes() == (media / "jfk3.wav").read_bytes()
    assert runners("r1", "--burst").wait(timeout=300) == 0
    second = app.store.get(second.id)
    assert second.status == "succeeded", second.error
    v2 = Path(next(p for p in second.outputs if p.endswith(".txt"))).read_text(encoding="utf-8").lower()
    assert v2.strip() and "americans" not in v2, v2


def test_a_hard_link_to_another_users_file_is_refused(app, inbox, ingesters, tmp_path, media):
    theirs = tmp_path / "theirs" / "private.wav"
    theirs.parent.mkdir()
    shutil.copyfile(media / "jfk3.wav", theirs)
    os.chown(theirs, OTHER_UID, -1)
    theirs.chmod(0o600)
    os.link(theirs, inbox / "linked.wav")
    daemon = ingesters("ingest", extra_env={"SPOOLSCRIBE_INBOX_QUIET": "0.5"})
    shutil.copyfile(DATA / "sample.wav", inbox / "mine.wav")
    wait_for(lambda: "linked.wav" in daemon.log() and app.store.counts()["queued"] == 1, 30,
             what=f"mine.wav queued and linked.wav refused; log:\n{daemon.log()}")
    assert [job.original_name for job in app.store.list()] == ["mine.wav"]
    assert f"owned by user {OTHER_UID}" in daemon.log()
    assert len(list(app.spool.media.iterdir())) == 1


def test_debris_of_killed_processes_is_swept_and_nothing_else(app, inbox, cli):
    debris = [temporary_name(app.spool.media / "01J00000000000000000000000.wav"),
              temporary_name(inbox / "team" / "talk.txt"), temporary_name(inbox / "talk.wav.error.txt")]
    users = [inbox / "team" / "notes.tmp", inbox / "team" / ".notes.txt.0a1b2c3d.tmp"]
    for path in [*debris, *users]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    os.chown(users[1], OTHER_UID, -1)  # our pattern, but a user's own file
    time.sleep(2.5)  # older than the grace period below
    done = cli("runner", "--burst", extra_env={"SPOOLSCRIBE_DEBRIS_GRACE": "2"})
    assert done.returncode == 0, done.stderr
    assert not any(path.exists() for path in debris) and all(path.exists() for path in users)
    assert done.stderr.count("a temporary file a killed process left behind") == len(debris)


def test_submit_takes_a_snapshot_and_refuses_a_link_or_fifo(app, cli, tmp_path, media):
    talk = tmp_path / "talk.wav"
    shutil.copyfile(media / "jfk3.wav", talk)
    (tmp_path / "link.wav").symlink_to(talk)
    os.mkfifo(tmp_path / "fifo.wav")
    done = cli("submit", str(talk), timeout=60)
    assert done.returncode == 0, done.stderr
    media_path = app.spool.media_path(app.store.get(done.stdout.strip()).media_path)
    assert media_path.stat().st_ino != talk.stat().st_ino and talk.stat().st_nlink == 1
    for name, reason in [("link.wav", "is a symbolic link"), ("fifo.wav", "is not a regular file")]:
        refused = cli("submit", str(tmp_path / name), timeout=60)
        assert refused.returncode == 1 and f"{tmp_path / name} {reason}" in refused.stderr, refused.stderr
    assert len(app.store.list()) == 1
