"""The spool: a Maildir-shaped directory queue of job files (qmail's maildir(5)).

Layout under the spool root::

    tmp/     deliveries being written (never read by runners)
    new/     pending job files <job id>.json: complete by construction, never modified
    cur/     claimed job files (moved here by the one runner that won the rename)
    media/   the jobs' media, <job id><extension>
    bad/     job files that failed validation, with a <name>.reason file beside each

A job file is JSON: ``{"version": 1, "id": ULID, "media": "media/<id>.<ext>", "original_name": str,
"source": "cli"|"upload"|"inbox", "inbox_path": str|null, "options": {...JobOptions}}``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ulid import ULID

from runner.core.errors import SpoolscribeError
from runner.core.fsutil import atomic_file, atomic_write, copy_stream, snapshot
from runner.core.options import JobOptions, OptionsError
from runner.core.schema import JobSource

log = logging.getLogger(__name__)

JOB_FILE_VERSION = 1
MAX_JOB_FILE_BYTES = 64 * 1024
MAX_NAME_CHARS = 1024
TMP_GRACE_SECONDS = 36 * 3600  # Maildir's rule: leftovers in tmp/ older than 36 hours are swept
_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_EXT = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


def _job_ids(directory: Path) -> list[str]:
    names = (name for name in os.listdir(directory) if name.endswith(".json") and not name.startswith("."))
    return sorted(name[:-5] for name in names)


class JobFileError(SpoolscribeError, ValueError):
    """A job file that must not be processed; the message says what is wrong with it."""


def new_job_id() -> str:
    """A fresh job id: a ULID (26 Crockford base-32 characters), sortable by creation time."""
    return str(ULID())


def media_extension(original_name: str) -> str:
    """The lower-case extension to store media under (``""`` when the name has none usable)."""
    suffix = Path(original_name).suffix.lower()
    return suffix if _EXT.match(suffix) else ""


@dataclass(frozen=True)
class JobFile:
    """The content of one job file (see the module docstring for the JSON shape)."""

    id: str
    media: str
    original_name: str
    source: str
    options: JobOptions
    inbox_path: str | None = None

    def to_json(self) -> bytes:
        """Serialise as the job file's UTF-8 JSON bytes."""
        return json.dumps(
            {
                "version": JOB_FILE_VERSION,
                "id": self.id,
                "media": self.media,
                "original_name": self.original_name,
                "source": self.source,
                "inbox_path": self.inbox_path,
                "options": self.options.to_dict(),
            },
            ensure_ascii=False,
            indent=1,
        ).encode("utf-8")


class Spool:
    """The spool directory: deliver, list, claim, finish and quarantine job files."""

    SUBDIRS = ("tmp", "new", "cur", "media", "bad")

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in self.SUBDIRS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.tmp, self.new, self.cur = self.root / "tmp", self.root / "new", self.root / "cur"
        self.media, self.bad = self.root / "media", self.root / "bad"

    # -- delivery ---------------------------------------------------------------------------

    def store_media_stream(self, job_id: str, original_name: str, stream: BinaryIO, limit: int | None = None) -> str:
        """Copy an open binary stream into ``media/`` atomically; return its spool-relative path.

        Raises:
            ValueError: the stream is longer than ``limit`` bytes (nothing is left behind).
            OSError: the spool cannot be written.
        """
        relative = f"media/{job_id}{media_extension(original_name)}"
        with atomic_file(self.root / relative, temp_dir=self.tmp) as handle:
            copy_stream(stream, handle, limit)
        return relative

    def store_media_file(self, job_id: str, original_name: str, source: BinaryIO) -> str:
        """Store a snapshot of the open file ``source`` in ``media/`` (a reflink or a copy, never a
        hard link: the queued media cannot change with the source); return its relative path.

        Raises:
            OSError: the source cannot be read or the spool written (nothing is left behind).
        """
        relative = f"media/{job_id}{media_extension(original_name)}"
        snapshot(source, self.root / relative, temp_dir=self.tmp)
        return relative

    def enqueue(self, job: JobFile) -> Path:
        """Deliver a job file: write ``tmp/<id>.json``, fsync, rename into ``new/``; return its path."""
        target = self.new / f"{job.id}.json"
        atomic_write(target, job.to_json(), temp_dir=self.tmp)
        return target

    # -- the runner's side -----------------------------------------------------------------------

    def pending(self) -> list[str]:
        """Ids of pending job files, oldest first (ULIDs sort by creation)."""
        return _job_ids(self.new)

    def claimed(self) -> list[str]:
        """Ids of claimed job files in ``cur/``."""
        return _job_ids(self.cur)

    def claim(self, job_id: str) -> Path | None:
        """Move ``new/<id>.json`` to ``cur/``; return the claimed path, or None if another runner won."""
        target = self.cur / f"{job_id}.json"
        try:
            os.rename(self.new / f"{job_id}.json", target)
        except FileNotFoundError:
            return None
        return target

    def read(self, path: Path) -> JobFile:
        """Read and validate a job file.

        Raises:
            JobFileError: the file is unreadable, not the documented JSON shape, or its media path
                points outside ``media/`` or at something that is not a regular file.
        """
        try:
            if path.stat().st_size > MAX_JOB_FILE_BYTES:
                raise JobFileError(f"job file is larger than {MAX_JOB_FILE_BYTES} bytes")
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JobFileError(f"unreadable job file: {exc}") from None
        return self._validate(data, path.name)

    def _validate(self, data: Any, file_name: str) -> JobFile:
        if not isinstance(data, dict):
            raise JobFileError("job file is not a JSON object")
        expected = {"version", "id", "media", "original_name", "source", "inbox_path", "options"}
        if set(data) != expected:
            raise JobFileError(f"job file keys must be exactly {sorted(expected)}, got {sorted(data)}")
        if data["version"] != JOB_FILE_VERSION:
            raise JobFileError(f"unsupported job file version {data['version']!r}")
        job_id = data["id"]
        if not isinstance(job_id, str) or not _ID.match(job_id) or file_name != f"{job_id}.json":
            raise JobFileError("job id is not a ULID matching the file name")
        name = data["original_name"]
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS or "\0" in name:
            raise JobFileError("original_name must be a non-empty string without NUL")
        if data["source"] not in {source.value for source in JobSource}:
            raise JobFileError(f"unknown source {data['source']!r}")
        inbox_path = data["inbox_path"]
        if inbox_path is not None and not isinstance(inbox_path, str):
            raise JobFileError("inbox_path must be a string or null")
        media = data["media"]
        if not isinstance(media, str) or not media.startswith("media/"):
            raise JobFileError("media must be a path under media/")
        if (self.root / media).is_symlink():
            raise JobFileError(f"media path {media!r} is a symbolic link")
        resolved = (self.root / media).resolve()
        if resolved.parent != self.media.resolve() or not resolved.name.startswith(job_id):
            raise JobFileError(f"media path {media!r} points outside the spool's media directory")
        try:
            options = JobOptions.from_mapping(data["options"])
        except OptionsError as exc:
            raise JobFileError(f"invalid options: {exc}") from None
        return JobFile(job_id, media, name, data["source"], options, inbox_path)

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move a bad job file into ``bad/`` with a ``.reason`` note beside it; return the new path."""
        target = self.bad / path.name
        if target.exists():
            target = self.bad / f"{path.name}.{int(time.time())}"
        os.replace(path, target)
        atomic_write(target.with_name(target.name + ".reason"), reason.encode("utf-8") + b"\n")
        log.warning("spool: moved bad job file %s to %s: %s", path.name, target, reason)
        return target

    def hand_back(self, job: JobFile) -> None:
        """Return a claimed job file to ``new/`` (re-delivering it if the claimed file is gone)."""
        try:
            os.rename(self.cur / f"{job.id}.json", self.new / f"{job.id}.json")
        except FileNotFoundError:
            self.enqueue(job)

    def finish(self, job_id: str) -> None:
        """Remove the claimed job file of a job that has ended (the database keeps its record)."""
        (self.cur / f"{job_id}.json").unlink(missing_ok=True)

    def withdraw(self, job_id: str) -> bool:
        """Remove a pending job file (a cancelled queued job); True if it was still pending."""
        try:
            (self.new / f"{job_id}.json").unlink()
        except FileNotFoundError:
            return False
        return True

    def media_path(self, relative: str) -> Path:
        """Absolute path of a spool-relative media path."""
        return self.root / relative

    def clock(self) -> float:
        """The spool filesystem's clock now, seconds since the epoch: the change time of a file just
        made in ``tmp/`` (and removed). On a network filesystem that is the server's clock, which
        stamps every file there, so a host whose own clock is off still ages files right."""
        handle, path = tempfile.mkstemp(dir=self.tmp, prefix=".clock-")
        try:
            return os.fstat(handle).st_ctime
        finally:
            os.close(handle)
            os.unlink(path)

    def sweep_tmp(self, now: float | None = None) -> int:
        """Delete leftovers in ``tmp/`` older than 36 hours (Maildir's rule) at ``now`` (default: the
        spool's ``clock()``); return how many."""
        now = self.clock() if now is None else now
        removed = 0
        for entry in os.scandir(self.tmp):
            try:
                if now - entry.stat().st_mtime > TMP_GRACE_SECONDS:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
