"""What the pages and the health check show, computed from the store: runner health, ETAs, and
the small formatting helpers the templates use (clock times, ages, byte sizes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runner.core.diskguard import FreeSpace, measure, shortage
from runner.core.schema import Job
from runner.core.settings import Settings
from runner.core.states import JobStatus
from runner.core.store import JobStore

STALE_HEARTBEATS = 3  # a runner silent for this many heartbeat intervals counts as gone
MIN_STALE_SECONDS = 10.0


@dataclass(frozen=True)
class RunnerHealth:
    """A runner as the web sees it: its last heartbeat's age in seconds and whether it is alive."""

    name: str
    state: str
    job_id: str | None
    heartbeat_age: float
    alive: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: name, state, job_id, heartbeat_age_seconds, alive."""
        return {"name": self.name, "state": self.state, "job_id": self.job_id,
                "heartbeat_age_seconds": round(self.heartbeat_age, 1), "alive": self.alive}


@dataclass(frozen=True)
class Summary:
    """The line at the top of every page: jobs per status, the runners' health, and the free disk
    space (``disk_warning``: why runners claim no job, or None)."""

    counts: dict[JobStatus, int]
    runners: list[RunnerHealth]
    disk: tuple[FreeSpace, ...] = ()
    disk_warning: str | None = None

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a runner."""
        return self.counts.get(JobStatus.QUEUED, 0)

    @property
    def alive(self) -> list[RunnerHealth]:
        """The runners whose heartbeat is fresh."""
        return [runner for runner in self.runners if runner.alive]


def summarize(store: JobStore, settings: Settings, now: datetime) -> Summary:
    """Counts per status, every known runner's health at ``now`` (naive UTC) and the free disk space.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    stale_after = max(STALE_HEARTBEATS * settings.heartbeat_interval, MIN_STALE_SECONDS)
    runners = []
    for record in store.runners():
        age = max(0.0, (now - record.heartbeat_at).total_seconds())
        runners.append(RunnerHealth(record.name, record.state, record.job_id, age,
                                    record.state != "stopped" and age <= stale_after))
    try:
        disk = tuple(measure(settings))
    except OSError:
        disk = ()
    warning = shortage(list(disk), settings.min_free_bytes) if settings.min_free_bytes > 0 else None
    return Summary(store.counts(), runners, disk, warning)


def eta_seconds(job: Job, now: datetime) -> float | None:
    """Seconds until a running job is done at its speed so far, or None when it cannot be told."""
    if job.status != JobStatus.RUNNING or not job.duration or not job.started_at:
        return None
    elapsed = (now - job.started_at).total_seconds()
    if job.processed_seconds <= 0 or elapsed <= 0:
        return None
    speed = job.processed_seconds / elapsed  # seconds of audio per second
    return max(0.0, (job.duration - job.processed_seconds) / speed)


def age(seconds: float) -> str:
    """A short age: ``"4 s"``, ``"3 min"``, ``"2 h"``, ``"5 d"``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def when(moment: datetime | None) -> str:
    """A stored naive-UTC time as ``2026-11-29 06:27:43 UTC`` (None -> ``"–"``)."""
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
