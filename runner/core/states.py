"""A job's states, and the sets of them the rest of the code speaks of.

``JobStatus`` is a ``StrEnum``: a member equals, hashes and prints as its value, so it is stored,
compared and shown in JSON, templates and the command line as the plain string (``"queued"``).
"""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    """Where a job is in its life: queued -> running -> succeeded | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
"""Not yet ended: a runner may still work on the job; it can be cancelled, not retried or deleted."""
ENDED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
"""The end states: the job can be deleted, its files expire under retention."""
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
"""The end states a person may queue again from the start."""


def in_order(statuses: frozenset[JobStatus]) -> list[JobStatus]:
    """``statuses`` in the order of a job's life (queued first, cancelled last), for display."""
    return [status for status in JobStatus if status in statuses]
