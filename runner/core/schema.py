"""The job store's schema (SQLAlchemy 2.x declarative models).

The database schema itself comes only from the Alembic migrations in ``migrations/``; these models
must match them (a test runs autogenerate against a migrated database and expects no difference).
All times are naive UTC ``datetime`` values; durations are seconds.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runner.core.states import JobStatus


class Base(DeclarativeBase):
    """Declarative base of every spoolscribe table."""


def _status_column() -> Enum:
    """A ``JobStatus`` column: its value stored as ``VARCHAR(16)`` (no native enum, no CHECK, as the
    migrations made it), read back as the member; an unknown value raises ``LookupError``."""
    return Enum(JobStatus, native_enum=False, create_constraint=False, length=16, validate_strings=True,
                values_callable=lambda statuses: [status.value for status in statuses])


class JobSource(str, enum.Enum):
    """How a job reached the spool."""

    CLI = "cli"
    UPLOAD = "upload"
    INBOX = "inbox"
    BAZARR = "bazarr"
    """The compat service's whisper-asr-webservice API (``/asr``, ``/detect-language``), as Bazarr calls it."""
    OPENAI = "openai"
    """The compat service's OpenAI audio API (``/v1/audio/*``)."""


class Job(Base):
    """One transcription job: a media file, its options, its state and its progress."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"), Index("ix_jobs_finished_at", "finished_at"))

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    """A ULID: 26 characters, sorts by creation time."""
    status: Mapped[JobStatus] = mapped_column(_status_column(), default=JobStatus.QUEUED)
    source: Mapped[str] = mapped_column(String(16))
    original_name: Mapped[str] = mapped_column(Text)
    """The file name exactly as given (any unicode); used for display and output names only."""
    media_path: Mapped[str] = mapped_column(Text)
    """The stored media, relative to the spool directory."""
    inbox_path: Mapped[str | None] = mapped_column(Text, default=None)
    """For inbox jobs: the absolute path of the user's file."""
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The job's ``JobOptions`` as a dict (see ``runner.core.options``)."""
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
    device: Mapped[str | None] = mapped_column(String(64), default=None)
    """What that runner computes on: its CTranslate2 device and compute type (``cpu int8``, ``cuda float16``)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """How many times a runner has claimed the job."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    audio: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """Once decoded: the audio track transcribed, ``{"number", "language", "title", "tracks", "offset"}``
    (``number`` from 1 among ``tracks`` audio streams; ``offset`` seconds from the video's start to
    the audio's, added to every time written)."""
    outputs: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Absolute paths of the output files written, in format order."""
    created_at: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    """URL that receives this job's completion webhook (besides ``Settings.webhook_url``), or None."""
    media_removed_at: Mapped[datetime | None] = mapped_column(default=None)
    """When retention deleted the job's media from the spool (it can no longer be retried), or None."""


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
    speaker: Mapped[str | None] = mapped_column(String(128), default=None)
    """``channel N`` for a job with separate channels (what a resumed job continues each channel from), else None."""
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    """The segment's own detected language (``language = multi``), else None."""


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
    SKIPPED = "skipped"
    """Its job ran, but its subtitles were not written beside it (media-library naming): ``reason`` says why."""
    WAITING = "waiting"
    """The file was empty when it was quiet: no job; it is taken once it has content (``reason``)."""
    SUPERSEDED = "superseded"
    """A newer version of the file was taken: this version's job was withdrawn or cancelled (if it had
    not ended), and its results give way to the newer version's."""


class InboxFile(Base):
    """The exactly-once record of a file taken from the inbox: one row per version of a file.

    A file is identified by its path: a version is not queued again while a row matches its (path,
    size, mtime), or when its content hash is that of the newest row of the same path.
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
    """The job made from this file (for a duplicate: the job of the same content); None while delivering
    and for a waiting (empty) file."""
    created_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    """For a skipped file: why, for a person (``Movie (2020).en.srt is already beside it``)."""


class JobEnding(Base):
    """One ending of a job (succeeded, failed or cancelled), recorded once per ``(job_id, finished_at)``:
    the source of the metrics' all-time counters and of the webhook deliveries the ending owes.

    No foreign key to ``jobs``: the record outlives a deleted job, so counters never go down.
    """

    __tablename__ = "job_endings"
    __table_args__ = (UniqueConstraint("job_id", "finished_at", name="uq_job_endings_job_id_finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(26))
    status: Mapped[JobStatus] = mapped_column(_status_column())
    """The status the job ended with."""
    finished_at: Mapped[datetime] = mapped_column()
    """The job's ``finished_at`` of this ending (a retried job ends again at another time)."""
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    """Seconds of audio transcribed (the job's ``processed_seconds``)."""
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    """The audio's duration in seconds, when it was decoded."""
    processing_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    """Seconds from the last claim to the end (None for a job that never ran)."""
    recorded_at: Mapped[datetime] = mapped_column()


class WebhookState(str, enum.Enum):
    """Where a webhook delivery is: pending (first try or a retry due), delivered, or failed (given up)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(Base):
    """A completion webhook owed to one URL for one ending of a job; its body is fixed when it is
    made, so every retry sends (and signs) the same bytes. Deleted with its job."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("job_id", "job_finished_at", "url", name="uq_webhook_deliveries_job_id_job_finished_at_url"),
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    job_finished_at: Mapped[datetime] = mapped_column()
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    """The JSON document POSTed (UTF-8)."""
    state: Mapped[str] = mapped_column(String(16))
    """A ``WebhookState`` value."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the next attempt is due (while an attempt is in flight: the end of its lease); None when done."""
    created_at: Mapped[datetime] = mapped_column()
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    """When it was delivered or given up."""


class WebhookAttempt(Base):
    """One try of a webhook delivery: when, how long, and the HTTP status or the error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    """1 for the first try."""
    started_at: Mapped[datetime] = mapped_column()
    seconds: Mapped[float] = mapped_column(Float)
    """How long the attempt took."""
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    """The receiver's HTTP status, or None when none came (refused, timed out)."""
    error: Mapped[str | None] = mapped_column(Text, default=None)
    """What went wrong, or None for a 2xx answer."""
    runner: Mapped[str] = mapped_column(String(128))
    """The runner that made the attempt."""


class OutputFile(Base):
    """An output file a runner (or a speaker rename) wrote for a job, as it was just after writing:
    what the web checks on the opened descriptor before serving it, so that a file put in its
    place (a symbolic or hard link, another file renamed there) is never served."""

    __tablename__ = "output_files"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    """The absolute path, as in ``Job.outputs``."""
    device: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    """Bytes."""
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    """Modification time, nanoseconds since the epoch."""


class TranscriptSegment(Base):
    """One segment of a succeeded job's transcript as its outputs hold it (after the speaker split,
    with edits): what search finds (``runner.core.search``) and the job page edits. Written in the
    same transaction as the change it reflects (the job's success, a rename, an edit; deleted with
    the job). On SQLite, triggers made by the migration keep the FTS5 tables ``search_words`` and
    ``search_trigrams`` (external content on this table's ``text``) in step."""

    __tablename__ = "transcript_segments"
    __table_args__ = (UniqueConstraint("job_id", "index", name="uq_transcript_segments_job_id_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    """The full-text index's row id: ascending in the order jobs were indexed (newest last)."""
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    """The segment's position in the job's JSON output (from 0)."""
    start: Mapped[float] = mapped_column(Float)
    """Seconds from the start of the audio."""
    end: Mapped[float] = mapped_column(Float)
    speaker: Mapped[str | None] = mapped_column(Text, default=None)
    text: Mapped[str] = mapped_column(Text)
    spaceless: Mapped[bool] = mapped_column(Boolean, default=False)
    """The text holds characters of a script written without spaces between words (Chinese,
    Japanese, Thai, ...): the row is in the trigram index as well."""
    version: Mapped[int] = mapped_column(Integer, default=0)
    """0 for the model's text, then the number of the last edit (``SegmentVersion.version``)."""


class SegmentVersion(Base):
    """One version of an edited segment's text: version 0 is the model's (recorded at the first
    edit), then one row per edit or revert. Deleted with its job."""

    __tablename__ = "segment_versions"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    edited_at: Mapped[datetime] = mapped_column()
    """When it was saved (naive UTC; for version 0, when the job finished)."""
    edited_by: Mapped[str | None] = mapped_column(Text, default=None)
    """Who saved it as far as authentication tells (``"bearer token"``, ``"browser login"``), or None
    (authentication off, or the model's version)."""
