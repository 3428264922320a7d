"""Marking an inbox file's record (``inbox_files``) as skipped, with the reason, once its job has
found that the subtitles it would write are already there (media-library naming)."""

from __future__ import annotations

from sqlalchemy import CursorResult, Engine, update
from sqlalchemy.orm import sessionmaker

from runner.core.db import write_engine
from runner.core.schema import InboxFile, InboxFileStatus


def record_skip(engine: Engine, job_id: str, reason: str) -> int:
    """Mark the queued inbox records of job ``job_id`` skipped with ``reason`` (text for a person);
    return how many were marked (0 for a job not made from an inbox file).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be written.
    """
    with sessionmaker(write_engine(engine)).begin() as session:
        statement = (update(InboxFile)
                     .where(InboxFile.job_id == job_id, InboxFile.status == InboxFileStatus.QUEUED.value)
                     .values(status=InboxFileStatus.SKIPPED.value, reason=reason))
        result: CursorResult = session.execute(statement)  # type: ignore[assignment]
        return result.rowcount
