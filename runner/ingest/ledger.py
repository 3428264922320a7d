"""The exactly-once record of the inbox (table ``inbox_files``): which versions of which files
(by path) have already been taken, and the job each one became. A file is identified by its path:
the same content under two paths is two files, each with its own job."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import sessionmaker

from runner.core.db import utc_now, write_engine
from runner.core.schema import InboxFile, InboxFileStatus, Job

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

    def newest(self, path: str) -> InboxFile | None:
        """The record of the newest version of the file at ``path`` taken so far, or None."""
        query = select(InboxFile).where(InboxFile.path == path).order_by(InboxFile.id.desc()).limit(1)
        with self._read() as session:
            return session.scalars(query).first()

    def add(self, path: str, size: int, mtime_ns: int, sha256: str, status: InboxFileStatus,
            job_id: str | None = None, reason: str | None = None) -> int:
        """Record a file version (``reason``: for a person, why it has no job of its own); return
        the record's id."""
        record = InboxFile(path=path, size=size, mtime_ns=mtime_ns, sha256=sha256, status=status.value,
                           job_id=job_id, created_at=utc_now(), reason=reason)
        with self._write.begin() as session:
            session.add(record)
            session.flush()
            return record.id

    def queued(self, record_id: int, job_id: str) -> None:
        """Mark a delivering record as queued as ``job_id``."""
        with self._write.begin() as session:
            session.execute(update(InboxFile).where(InboxFile.id == record_id)
                            .values(status=InboxFileStatus.QUEUED.value, job_id=job_id))

    def supersede(self, path: str, newer: int) -> list[str]:
        """Mark every earlier version of the file at ``path`` that had a job (queued, duplicate or
        skipped; not ``newer``, the record of the version taken now) superseded; return their job
        ids, oldest first, each once."""
        earlier = (InboxFile.path == path, InboxFile.id < newer, InboxFile.job_id.is_not(None),
                   InboxFile.status.in_([InboxFileStatus.QUEUED.value, InboxFileStatus.DUPLICATE.value,
                                         InboxFileStatus.SKIPPED.value]))
        with self._write.begin() as session:
            job_ids = session.scalars(select(InboxFile.job_id).where(*earlier).order_by(InboxFile.id)).all()
            if job_ids:
                session.execute(update(InboxFile).where(*earlier).values(status=InboxFileStatus.SUPERSEDED.value))
        return [job_id for job_id in dict.fromkeys(job_ids) if job_id is not None]

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
