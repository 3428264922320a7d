"""The versions of an inbox file (``inbox_files`` rows of one path) as the runners see them: whether a
job's version was superseded by a newer one, and removing what the jobs of a file's earlier
versions left in the inbox or the outbox, so that the newest version's results take the plain names.

Only files the service wrote and recorded (``output_files``) are removed, and only while each is
still that file (device, inode, size, mtime; a regular file, never through a symbolic link): a file
a person put or changed there since is left alone.
"""

from __future__ import annotations

import logging
import os
import stat as stat_module
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from runner.core.db import retry_when_busy, write_engine
from runner.core.schema import InboxFile, InboxFileStatus, Job, OutputFile
from runner.core.text import printable
from runner.jobs.outputs import is_recorded

log = logging.getLogger(__name__)


def is_superseded(engine: Engine, job_id: str) -> bool:
    """True if the inbox file version job ``job_id`` was made from has been superseded by a newer
    version of the same file (``runner.ingest.delivery``).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    query = select(InboxFile.id).where(InboxFile.job_id == job_id,
                                       InboxFile.status == InboxFileStatus.SUPERSEDED.value).limit(1)
    with Session(engine) as session:
        return session.scalars(query).first() is not None


def _still_ours(record: OutputFile) -> bool:
    try:
        info = os.lstat(record.path)
    except OSError:
        return False
    return stat_module.S_ISREG(info.st_mode) and is_recorded(info, record)


@retry_when_busy
def remove_earlier_results(engine: Engine, job_id: str, inbox_path: str, outputs_dir: Path) -> list[Path]:
    """Remove the recorded outputs and error files that jobs of earlier versions of the inbox file
    ``inbox_path`` (jobs older than ``job_id``, by the ledger) wrote beside the file or in the outbox
    (not under ``outputs_dir``, the jobs' own ``<home>/outputs``: those stay with their job), each
    only while it is still the file written; drop them from
    those jobs' ``outputs`` and records. Returns the paths removed. A file that cannot be removed is
    logged and kept.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read or written.
    """
    earlier = select(InboxFile.job_id).where(InboxFile.path == inbox_path, InboxFile.job_id < job_id)
    removed: list[Path] = []
    with Session(write_engine(engine)) as session, session.begin():
        records = session.scalars(select(OutputFile).where(OutputFile.job_id.in_(earlier))).all()
        for record in records:
            path = Path(record.path)
            if path.is_relative_to(outputs_dir) or not _still_ours(record):
                continue
            try:
                path.unlink()
            except OSError as exc:
                log.warning("job %s: could not remove %s, superseded by job %s (%s)", record.job_id,
                            printable(path), job_id, exc.strerror or exc)
                continue
            removed.append(path)
            session.delete(record)
        gone = {str(path) for path in removed}
        for job in session.scalars(select(Job).where(Job.id.in_({r.job_id for r in records}))):
            if gone & set(job.outputs or []):
                job.outputs = [name for name in job.outputs if name not in gone]
    for path in removed:
        log.info("removed %s: superseded by job %s of a newer version of the file", printable(path), job_id)
    return removed
