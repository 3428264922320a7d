"""One job per identical request: the compat APIs' idempotency.

A request is keyed by the SHA-256 of its audio and of the options that change the result
(``request_key``). The key names a small file under ``<home>/requests/`` holding the job's id,
written atomically under an exclusive lock (``flock``) shared by every compat worker, so two
identical requests at the same moment make one job, and a client's retry finds the job that is
running or has finished. A key whose job has failed, was cancelled or has been deleted (by
retention or a person) is taken over by the next identical request's new job.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.core.fsutil import atomic_write
from runner.core.options import JobOptions
from runner.core.schema import Job, JobSource, JobStatus
from runner.core.spool import Spool
from runner.core.store import JobStore
from runner.jobs.submit import submit_path

REQUESTS_DIR = "requests"
"""Directory under the data root holding one file per request key."""
_LOCK = ".lock"
_REPLACEABLE = (JobStatus.FAILED.value, JobStatus.CANCELLED.value)


def request_key(audio_sha256: str, options: JobOptions) -> str:
    """The hex SHA-256 key of a request: its audio's hex digest and its options (every option
    changes the job's result; output formats are not part of it, since compat jobs write them all)."""
    document = {"audio": audio_sha256, "options": {**options.to_dict(), "formats": None}}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def forget_deleted(store: JobStore, home: Path) -> int:
    """Remove the request keys whose jobs no longer exist (deleted by retention or a person), each
    under the lock; return how many were removed. Retention calls it after each sweep."""
    directory = home / REQUESTS_DIR
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.iterdir():
        if path.name == _LOCK:
            continue
        with _locked(directory):
            try:
                job_id = path.read_text(encoding="ascii").strip()
            except (FileNotFoundError, UnicodeDecodeError):
                continue
            if store.get(job_id) is None:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def known_job(store: JobStore, home: Path, key: str) -> Job | None:
    """The job of an earlier identical request that is queued, running or succeeded, or None."""
    try:
        job_id = (home / REQUESTS_DIR / key).read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    job = store.get(job_id)
    return None if job is None or job.status in _REPLACEABLE else job


def submit_once(store: JobStore, spool: Spool, home: Path, key: str, source: Path, options: JobOptions, *,
                kind: JobSource, original_name: str) -> tuple[Job, bool]:
    """The job of request ``key``: the earlier identical request's (``(job, False)``), or a new job
    of the file at ``source`` (``(job, True)``), decided under the lock of ``<home>/requests/``.

    Raises:
        OSError: the spool or the key file cannot be written, or ``source`` read.
    """
    directory = home / REQUESTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        job = known_job(store, home, key)
        if job is not None:
            return job, False
        job = submit_path(store, spool, source, options, kind=kind, original_name=original_name)
        atomic_write(directory / key, job.id.encode("ascii"))
        return job, True
