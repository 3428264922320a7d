"""Taking a stable file: options from its folders, the exactly-once checks, then the spool.

The user's file is never modified: it is hard-linked into the spool when on the same filesystem,
copied otherwise (``runner.jobs.submit.submit_path``); the job records source ``inbox`` and the path.
"""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from runner.core.options import JobOptions
from runner.core.schema import InboxFileStatus, JobSource
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.store import JobStore
from runner.ingest.folders import FolderOptions
from runner.ingest.ledger import Ledger
from runner.jobs.submit import submit_path

HASH_CHUNK = 1 << 20  # bytes


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
    """The same content was taken before, from this or another path."""
    CHANGED = "changed"
    """It changed while it was read: not stable after all."""


@dataclass(frozen=True)
class Delivered:
    """The outcome for one file and the job concerned (the new job, or the earlier one)."""

    outcome: Outcome
    job_id: str | None = None


class Delivery:
    """Turns stable inbox files into queued jobs, each file version and each content once."""

    def __init__(self, store: JobStore, spool: Spool, ledger: Ledger, folders: FolderOptions) -> None:
        self.store, self.spool, self.ledger, self.folders = store, spool, ledger, folders

    @classmethod
    def for_settings(cls, settings: Settings, store: JobStore, spool: Spool) -> Delivery:
        """A delivery for the configured inbox: default options from the settings (formats), the
        folders' settings files over them, the ledger on the store's database."""
        folders = FolderOptions(settings.inbox_dir, JobOptions(formats=settings.inbox_formats))
        return cls(store, spool, Ledger(store.engine), folders)

    def deliver(self, path: Path, stat: os.stat_result, force: bool = False) -> Delivered:
        """Queue the file at ``path``, whose (stable) stat is ``stat``, unless it was taken before
        (``force`` skips that check).

        Raises:
            runner.ingest.folders.FolderSettingsError: a settings file of its folders is invalid.
            OSError: the file cannot be read or linked/copied, or the spool cannot be written.
        """
        options = self.folders.options_for(path)
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
        if not force:
            known = self.ledger.find(str(path), size, mtime_ns)
            if known is not None:
                return Delivered(Outcome.KNOWN, known.job_id)
        sha256 = sha256_file(path)
        after = os.stat(path, follow_symlinks=False)
        if (after.st_size, after.st_mtime_ns, after.st_ino) != (size, mtime_ns, stat.st_ino):
            return Delivered(Outcome.CHANGED)
        if not force:
            same = self.ledger.find_content(sha256)
            if same is not None:
                self.ledger.add(str(path), size, mtime_ns, sha256, InboxFileStatus.DUPLICATE, same.job_id)
                return Delivered(Outcome.DUPLICATE, same.job_id)
        record = self.ledger.add(str(path), size, mtime_ns, sha256, InboxFileStatus.DELIVERING)
        try:
            job = submit_path(self.store, self.spool, path, options, kind=JobSource.INBOX,
                              original_name=path.name, inbox_path=str(path))
        except BaseException:
            self.ledger.discard(record)
            raise
        self.ledger.queued(record, job.id)
        return Delivered(Outcome.QUEUED, job.id)
