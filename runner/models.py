"""The job store's schema (SQLAlchemy 2.x declarative models).

The database schema itself comes only from the Alembic migrations in ``migrations/``; these models
must match them (a test runs autogenerate against a migrated database and expects no difference).
All times are naive UTC ``datetime`` values; durations are seconds.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every spoolscribe table."""


class JobStatus(str, enum.Enum):
    """Where a job is in its life: queued -> running -> succeeded | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the three end states."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobSource(str, enum.Enum):
    """How a job reached the spool."""

    CLI = "cli"
    UPLOAD = "upload"
    INBOX = "inbox"


class Job(Base):
    """One transcription job: a media file, its options, its state and its progress."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    """A ULID: 26 characters, sorts by creation time."""
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    source: Mapped[str] = mapped_column(String(16))
    original_name: Mapped[str] = mapped_column(Text)
    """The file name exactly as given (any unicode); used for display and output names only."""
    media_path: Mapped[str] = mapped_column(Text)
    """The stored media, relative to the spool directory."""
    inbox_path: Mapped[str | None] = mapped_column(Text, default=None)
    """For inbox jobs: the absolute path of the user's file."""
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The job's ``JobOptions`` as a dict (see ``runner.options``)."""
    stage: Mapped[str | None] = mapped_column(String(16), default=None)
    """While running: decoding, transcribing, diarizing or writing."""
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    """0..1, the share of the audio processed."""
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    """Audio duration in seconds, known once decoded."""
    processed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    language_probability: Mapped[float | None] = mapped_column(Float, default=None)
    runner: Mapped[str | None] = mapped_column(String(128), default=None)
    """Name of the runner that holds (or last held) the job."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """How many times a runner has claimed the job."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    outputs: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Absolute paths of the output files written, in format order."""
    created_at: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SegmentRecord(Base):
    """A transcribed segment persisted as it is produced: the job's checkpoint."""

    __tablename__ = "segments"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """``[{"start": s, "end": s, "word": str, "probability": 0..1}, ...]``"""


class RunnerRecord(Base):
    """A runner daemon as last reported by its heartbeat."""

    __tablename__ = "runners"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    hostname: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    """idle, busy, stopping or stopped."""
    job_id: Mapped[str | None] = mapped_column(String(26), default=None)
    started_at: Mapped[datetime] = mapped_column()
    heartbeat_at: Mapped[datetime] = mapped_column()


class InboxFileStatus(str, enum.Enum):
    """What the inbox daemon did with a file it found complete."""

    DELIVERING = "delivering"
    """Being handed to the spool (a row left in this state means a crash mid-delivery)."""
    QUEUED = "queued"
    """Its job was queued (``job_id``)."""
    DUPLICATE = "duplicate"
    """Its content was already taken from another file or an earlier version: no new job."""


class InboxFile(Base):
    """The exactly-once record of a file taken from the inbox: one row per version of a file.

    A file is not queued again while a row matches its (path, size, mtime) or its content hash.
    No foreign key to ``jobs``: the record outlives a deleted job, so the file is not queued again.
    """

    __tablename__ = "inbox_files"
    __table_args__ = (Index("ix_inbox_files_path", "path"), Index("ix_inbox_files_sha256", "sha256"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    """Absolute path of the user's file."""
    size: Mapped[int] = mapped_column(BigInteger)
    """Bytes."""
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    """Modification time, nanoseconds since the epoch (``os.stat().st_mtime_ns``)."""
    sha256: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 of the content."""
    status: Mapped[str] = mapped_column(String(16))
    """An ``InboxFileStatus`` value."""
    job_id: Mapped[str | None] = mapped_column(String(26), default=None)
    """The job made from this file (for a duplicate: the job of the same content); None while delivering."""
    created_at: Mapped[datetime] = mapped_column()
