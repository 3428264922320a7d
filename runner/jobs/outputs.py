"""The output files the service wrote for each job (table ``output_files``), and opening one again
only when it is still that file.

Results beside inbox files lie in folders other people can write, so a path alone proves nothing:
a symbolic link, a hard link or another file may have been put there since. Each output's identity
(device, inode, size, mtime) is recorded just after it is written, and an output is read only
through a descriptor opened without following a symbolic link whose ``fstat`` shows that identity,
a regular file with one link, owned by the service user.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.orm import Session

from runner.core.db import retry_when_busy, write_engine
from runner.core.fsutil import open_regular
from runner.core.schema import Job, OutputFile

log = logging.getLogger(__name__)


class OutputChangedError(Exception):
    """The output file at ``path`` is no longer the one the service wrote (replaced, linked, changed);
    it is not served. The message says so in words a person can act on."""

    def __init__(self, job_id: str, path: Path) -> None:
        super().__init__(f"the {path.suffix[1:]} output of job {job_id} ({path.name}) was replaced or changed "
                         "after spoolscribe wrote it, so it is not served; retry the job to write it again")
        self.path = path


@retry_when_busy
def record_outputs(engine: Engine, job_id: str, paths: Iterable[Path | str]) -> None:
    """Record the identity each of ``paths`` (the files just written for job ``job_id``) has now,
    replacing what was recorded for those paths before (``record_outputs_in``, in a transaction of its own).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be written.
    """
    with Session(write_engine(engine)) as session, session.begin():
        record_outputs_in(session, job_id, paths)


def record_outputs_in(session: Session, job_id: str, paths: Iterable[Path | str]) -> None:
    """``record_outputs`` inside the caller's transaction (a rewrite that changes other rows too).
    A path that is not a regular file any more (``lstat``; a link is never followed) is left
    unrecorded, so it is never served."""
    rows = []
    for path in map(str, paths):
        try:
            info = os.lstat(path)
        except OSError:
            continue
        rows.append(OutputFile(job_id=job_id, path=path, device=info.st_dev, inode=info.st_ino,
                               size=info.st_size, mtime_ns=info.st_mtime_ns))
    session.execute(delete(OutputFile).where(OutputFile.job_id == job_id,
                                             OutputFile.path.in_([row.path for row in rows])))
    session.add_all(rows)


def output_path(job: Job, fmt: str) -> Path | None:
    """The path of the job's output of format ``fmt`` as recorded on the job, or None."""
    return next((Path(name) for name in job.outputs or [] if Path(name).suffix == f".{fmt}"), None)


def open_output(engine: Engine, job: Job, fmt: str) -> tuple[BinaryIO, Path] | None:
    """Open the job's output of format ``fmt`` (``txt``, ``srt``, ``vtt``, ``json``, ``rttm``) for
    reading: the open file and its path; None when the job has none or it is gone. The caller
    closes the file.

    Raises:
        OutputChangedError: the file at its path is not the one recorded when it was written (a
            symbolic link, another file, a second hard link, changed since), or was never recorded.
    """
    path = output_path(job, fmt)
    if path is None:
        return None
    handle = open_recorded(engine, job.id, path)
    return None if handle is None else (handle, path)


def is_recorded(info: os.stat_result, record: OutputFile | None) -> bool:
    """Whether the file of ``info`` (its device, inode, size in bytes, mtime in ns) is the one
    ``record`` noted when it was written."""
    return record is not None and (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) == (
        record.device, record.inode, record.size, record.mtime_ns)


def open_recorded(bind: Engine | Connection, job_id: str, path: Path) -> BinaryIO | None:
    """Open the output ``path`` of job ``job_id`` for reading if it is still the file recorded when
    it was written (see ``open_output``); None when it is gone. The caller closes the file.

    Raises:
        OutputChangedError: it is not the file recorded (or was never recorded).
    """
    with Session(bind) as session:
        record = session.scalars(select(OutputFile).where(OutputFile.job_id == job_id,
                                                          OutputFile.path == str(path))).first()
    try:
        handle, info = open_regular(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("job %s: refusing to serve %s: %s", job_id, path, exc.strerror or exc)
        raise OutputChangedError(job_id, path) from None
    if not is_recorded(info, record) or info.st_nlink != 1 or info.st_uid != os.geteuid():
        handle.close()
        log.warning("job %s: refusing to serve %s: it is not the file spoolscribe wrote", job_id, path)
        raise OutputChangedError(job_id, path)
    return handle
