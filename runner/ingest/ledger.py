"""The exactly-once record of the inbox (table ``inbox_files``): which file versions and which
contents have already been taken, and the job each one became."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import sessionmaker

from runner.core.db import write_engine
from runner.core.schema import InboxFile, InboxFileStatus, Job
from runner.core.store import utcnow

log = logging.getLogger(__name__)


class Ledger:
    """Reads and writes of ``InboxFile`` rows on the job store's engine."""

    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine(engine), expire_on_commit=False)

    def latest_versions(self) -> dict[str, tuple[int, int]]:
        """``{path: (size, mtime_ns)}`` of the newest recorded version of every path."""
        newest = select(func.max(InboxFile.id)).group_by(InboxFile.path)
        query = select(InboxFile.path, InboxFile.size, InboxFile.mtime_ns).where(InboxFile.id.in_(newest))
        with self._read() as session:
            return {path: (size, mtime_ns) for path, size, mtime_ns in session.execute(query)}

    def find(self, path: str, size: int, mtime_ns: int) -> InboxFile | None:
        """The record of this version of the file at ``path`` (size bytes, mtime ns), or None."""
        query = select(InboxFile).where(InboxFile.path == path, InboxFile.size == size,
                                        InboxFile.mtime_ns == mtime_ns).limit(1)
        with self._read() as session:
            return session.scalars(query).first()

    def find_content(self, sha256: str) -> InboxFile | None:
        """The first record of a file with this content (hex SHA-256), or None."""
        query = select(InboxFile).where(InboxFile.sha256 == sha256).order_by(InboxFile.id).limit(1)
        with self._read() as session:
            return session.scalars(query).first()

    def add(self, path: str, size: int, mtime_ns: int, sha256: str, status: InboxFileStatus,
            job_id: str | None = None) -> int:
        """Record a file version; return the record's id."""
        record = InboxFile(path=path, size=size, mtime_ns=mtime_ns, sha256=sha256, status=status.value,
                           job_id=job_id, created_at=utcnow())
        with self._write.begin() as session:
            session.add(record)
            session.flush()
            return record.id

    def queued(self, record_id: int, job_id: str) -> None:
        """Mark a delivering record as queued as ``job_id``."""
        with self._write.begin() as session:
            session.execute(update(InboxFile).where(InboxFile.id == record_id)
                            .values(status=InboxFileStatus.QUEUED.value, job_id=job_id))

    def discard(self, record_id: int) -> None:
        """Remove a record whose delivery failed (the file may be taken again)."""
        with self._write.begin() as session:
            session.execute(delete(InboxFile).where(InboxFile.id == record_id))

    def recover(self) -> tuple[int, int]:
        """Settle records a crash left delivering: link each to the job made from its file after
        it was recorded, or drop it so the file is taken again. Returns (linked, dropped)."""
        linked = dropped = 0
        with self._write.begin() as session:
            stuck = session.scalars(select(InboxFile).where(InboxFile.status == InboxFileStatus.DELIVERING.value))
            for record in list(stuck):
                job_id = session.scalars(select(Job.id).where(Job.inbox_path == record.path,
                                                              Job.created_at >= record.created_at)
                                         .order_by(Job.id).limit(1)).first()
                if job_id is None:
                    session.delete(record)
                    dropped += 1
                else:
                    record.status, record.job_id = InboxFileStatus.QUEUED.value, job_id
                    linked += 1
        return linked, dropped
