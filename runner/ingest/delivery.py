"""Taking a stable file: options from its folders, the exactly-once checks, then the spool.

The user's file is never modified. It is opened once, without following a symbolic link, and every
check is made on that descriptor (a regular file; owned by someone who may drop files there, see
``Delivery.may_drop``; no second hard link), then a snapshot of it is taken into the spool from the
same descriptor (a reflink or a copy, never a hard link: a later rewrite of the file cannot change
the queued job). The job records source ``inbox`` and the path.

A file is identified by its path. A new version of a file (other content) supersedes the jobs of its
earlier versions: a queued one is withdrawn, a running one cancelled (its runner stops at the next
segment and keeps nothing), and the new version's job replaces their results when it writes its
own (``runner.daemon.inbox_results``). An empty file is never queued: it is recorded as waiting.
"""

from __future__ import annotations

import enum
import grp
import hashlib
import os
import pwd
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path

from runner.core.errors import JobNotFound, JobStateError
from runner.core.fsutil import UnsafeFileError, check_utf8_path, open_regular, same_version
from runner.core.options import JobOptions
from runner.core.schema import InboxFileStatus, JobSource
from runner.core.settings import Settings
from runner.core.spool import JobFile, Spool, new_job_id
from runner.core.store import JobStore
from runner.ingest.folders import FolderOptions
from runner.ingest.ledger import Ledger
from runner.jobs.actions import cancel_job
from runner.jobs.submit import queue

HASH_CHUNK = 1 << 20  # bytes
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB chunks.

    Raises:
        OSError: the file cannot be read (gone, permission denied, I/O error).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Outcome(str, enum.Enum):
    """What became of a stable file."""

    QUEUED = "queued"
    """A new job."""
    KNOWN = "known"
    """This version of the file (path, size, mtime) was taken before."""
    DUPLICATE = "duplicate"
    """The file's newest version taken before has the same content (dropped or touched again)."""
    CHANGED = "changed"
    """It changed while it was read: not stable after all."""
    EMPTY = "empty"
    """It has no content (yet): recorded as waiting, never queued."""


@dataclass(frozen=True)
class Delivered:
    """The outcome for one file and the job concerned (the new job, or the earlier one);
    ``superseded``: the jobs of the file's earlier versions that the new job replaces."""

    outcome: Outcome
    job_id: str | None = None
    superseded: tuple[str, ...] = ()


class Delivery:
    """Turns stable inbox files into queued jobs, each version of a file (by path) once."""

    def __init__(self, settings: Settings, store: JobStore, spool: Spool, ledger: Ledger,
                 folders: FolderOptions) -> None:
        self.settings, self.store, self.spool, self.ledger, self.folders = settings, store, spool, ledger, folders
        self.service_uid = os.geteuid()

    @classmethod
    def for_settings(cls, settings: Settings, store: JobStore, spool: Spool) -> Delivery:
        """A delivery for the configured inbox: default options from the settings (formats), the
        folders' settings files over them, the ledger on the store's database."""
        folders = FolderOptions(settings.inbox_dir, JobOptions(formats=settings.inbox_formats),
                                (settings.model, *settings.web_models))
        return cls(settings, store, spool, Ledger(store.engine), folders)

    def deliver(self, path: Path, stat: os.stat_result, force: bool = False) -> Delivered:
        """Queue a snapshot of the file at ``path``, whose (stable) stat is ``stat``, unless it was
        taken before (``force`` skips that check) or is empty (recorded as waiting). The content
        hashed is that of the snapshot. The jobs of the file's earlier versions are superseded.

        Raises:
            runner.core.fsutil.UnusableNameError: the path is not valid UTF-8.
            runner.ingest.folders.FolderSettingsError: a settings file of its folders is invalid.
            runner.core.fsutil.UnsafeFileError: the file is a symbolic link, not a regular file, owned
                by someone else, or has another hard link (its ``filename`` is ``path``).
            OSError: the file cannot be read, or the spool cannot be written.
        """
        check_utf8_path(path)
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
        known = self.ledger.find(str(path), size, mtime_ns)
        if known is not None and (size == 0 or not force):
            return Delivered(Outcome.EMPTY if size == 0 else Outcome.KNOWN, known.job_id)
        options = self.folders.options_for(path)
        handle, opened = open_regular(path)
        with handle:
            self._check_owner_and_links(path, opened)
            if (opened.st_size, opened.st_mtime_ns, opened.st_ino) != (size, mtime_ns, stat.st_ino):
                return Delivered(Outcome.CHANGED)
            if size == 0:
                self.ledger.add(str(path), size, mtime_ns, EMPTY_SHA256, InboxFileStatus.WAITING,
                                reason="the file is empty: it is taken once it has content")
                return Delivered(Outcome.EMPTY)
            job_id = new_job_id()
            media = self.spool.store_media_file(job_id, path.name, handle)
            unchanged = same_version(opened, os.fstat(handle.fileno()))
        job_file = JobFile(job_id, media, path.name, JobSource.INBOX.value, options, str(path))
        return self._queue(path, job_file, opened if unchanged else None, force)

    def _check_owner_and_links(self, path: Path, opened: os.stat_result) -> None:
        """Refuse a file of someone who may not drop files here (see ``may_drop``) and a file with
        a second hard link (a link to a file elsewhere, perhaps another user's; the spool makes none)."""
        if not self.may_drop(opened.st_uid, path.parent):
            raise UnsafeFileError(path, f"is owned by user {opened.st_uid}, who is neither the owner of its folder "
                                  "or of the inbox, nor the service user, nor a member of the group of a "
                                  "group-writable inbox; only their files are taken")
        if opened.st_nlink != 1:
            raise UnsafeFileError(path, f"has {opened.st_nlink} hard links; only files with one are taken "
                                  "(copy the file into the inbox instead of linking it)")

    def may_drop(self, uid: int, folder: Path) -> bool:
        """True if user ``uid`` may have files taken from ``folder``: the service user, the owner of
        the folder or of the inbox, or, when the inbox is group-writable (the shared inbox the
        systemd set-up makes), a member of its group (primary or listed).

        Raises:
            OSError: the folder or the inbox cannot be looked at.
        """
        inbox = os.stat(self.folders.inbox)
        if uid in (self.service_uid, inbox.st_uid, os.stat(folder).st_uid):
            return True
        if not inbox.st_mode & stat_module.S_IWGRP:
            return False
        try:
            user = pwd.getpwuid(uid)
            return user.pw_gid == inbox.st_gid or user.pw_name in grp.getgrgid(inbox.st_gid).gr_mem
        except KeyError:  # no such user or group
            return False

    def _queue(self, path: Path, job_file: JobFile, opened: os.stat_result | None, force: bool) -> Delivered:
        """Queue the snapshot in the spool unless the file changed while it was copied (``opened``
        None) or, without ``force``, the newest version of this path taken before has the same
        content; the snapshot is removed then, and on any error before its row exists. The jobs of
        earlier versions are superseded before the new one is queued."""
        snapshot = self.spool.media_path(job_file.media)
        try:
            if opened is None:
                snapshot.unlink()
                return Delivered(Outcome.CHANGED)
            sha256 = sha256_file(snapshot)
            same = None if force else self.ledger.newest(str(path))
            if same is not None and same.sha256 == sha256 and same.job_id is not None:
                snapshot.unlink()
                self.ledger.add(str(path), opened.st_size, opened.st_mtime_ns, sha256, InboxFileStatus.DUPLICATE,
                                same.job_id)
                return Delivered(Outcome.DUPLICATE, same.job_id)
            record = self.ledger.add(str(path), opened.st_size, opened.st_mtime_ns, sha256,
                                     InboxFileStatus.DELIVERING)
        except BaseException:
            snapshot.unlink(missing_ok=True)
            raise
        try:
            superseded = self._supersede(path, record, job_file.id)
            job = queue(self.store, self.spool, job_file)
        except BaseException:
            self.ledger.discard(record)
            raise
        self.ledger.queued(record, job.id)
        return Delivered(Outcome.QUEUED, job.id, superseded)

    def _supersede(self, path: Path, record: int, newer_job: str) -> tuple[str, ...]:
        """Mark the earlier versions of the file superseded (first: a runner that finds its job
        cancelled then keeps nothing), then withdraw or cancel those of their jobs that have not
        ended; return the earlier versions' job ids."""
        earlier = self.ledger.supersede(str(path), record)
        reason = (f"superseded: {path.name} changed after this job was queued; job {newer_job} transcribes "
                  "the newer version")
        for job_id in earlier:
            try:
                cancel_job(self.store, self.spool, self.settings, job_id, reason)
            except (JobNotFound, JobStateError):
                continue  # deleted, or ended: the newer version's results replace its own
        return tuple(earlier)
