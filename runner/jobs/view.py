"""The public shape of a job, shared by ``spoolscribe status --json`` and the web API."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from runner.core.schema import Job
from runner.core.urls import display_url


def iso(moment: datetime | None) -> str | None:
    """A stored naive-UTC time as ISO 8601 with a ``Z`` (None stays None)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")


def job_to_dict(job: Job) -> dict[str, Any]:
    """A job as JSON-ready data (the shape documented in docs/api.md, "Job JSON")."""
    return {
        "id": job.id,
        "status": job.status,
        "source": job.source,
        "file_name": job.original_name,
        "inbox_path": job.inbox_path,
        "options": job.options,
        "stage": job.stage,
        "progress": round(job.progress or 0.0, 4),
        "duration": job.duration,
        "processed_seconds": round(job.processed_seconds or 0.0, 3),
        "language": job.language,
        "language_probability": job.language_probability,
        "runner": job.runner,
        "device": job.device,
        "attempts": job.attempts,
        "error": job.error,
        "warnings": list(job.warnings or []),
        "audio": job.audio,
        "outputs": list(job.outputs or []),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "lease_expires_at": iso(job.lease_expires_at),
        "callback_url": display_url(job.callback_url) if job.callback_url else None,
        "media_removed_at": iso(job.media_removed_at),
    }
