"""Metrics for the operator: jobs by status, jobs finished (all time), audio seconds transcribed,
the real-time factor, runners' heartbeat ages, free disk space and webhook deliveries.

They are computed from the database at each request (the one truth every runner and web worker
shares; no process keeps counters of its own), written in the Prometheus text format with the
official client library (``prometheus_client``, pure Python and light enough for the web), and
summarised on one screen by ``spoolscribe status``. All-time counters come from ``job_endings``,
which outlive deleted jobs, so they never go down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from runner.core.diskguard import FreeSpace, human_bytes, measure
from runner.core.schema import JobEnding, WebhookDelivery, WebhookState
from runner.core.settings import Settings
from runner.core.states import ENDED, JobStatus, in_order
from runner.core.store import JobStore

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` of ``exposition``'s output."""
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
"""Upper bounds of the real-time factor histogram (processing seconds per second of audio)."""


@dataclass(frozen=True)
class RunnerBeat:
    """A runner that has not stopped: its state and its last heartbeat's age in seconds."""

    name: str
    state: str
    heartbeat_age: float


@dataclass(frozen=True)
class Snapshot:
    """The metrics at one moment.

    ``jobs``: jobs per status now (``queued`` is the queue depth); ``finished``: endings per status,
    all time; ``audio_seconds``: seconds of audio transcribed by ended jobs, all time;
    ``rtf_buckets``: cumulative counts of succeeded jobs whose real-time factor (seconds from the
    last claim to the end, per second of audio) is at most each bound of ``RTF_BUCKETS``, then all
    of them; ``rtf_sum``: the sum of those factors; ``disk``: free space of the spool's and outputs'
    filesystems (empty if they cannot be measured); ``min_free_bytes``: the runners' floor;
    ``webhooks``: deliveries per state.
    """

    jobs: dict[JobStatus, int]
    finished: dict[JobStatus, int]
    audio_seconds: float
    rtf_buckets: tuple[int, ...]
    rtf_sum: float
    runners: tuple[RunnerBeat, ...]
    disk: tuple[FreeSpace, ...]
    min_free_bytes: int
    webhooks: dict[str, int]

    @property
    def rtf_count(self) -> int:
        """How many succeeded jobs the real-time factor histogram holds."""
        return self.rtf_buckets[-1]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (``spoolscribe status --json``, key ``metrics``)."""
        data = asdict(self)
        data["rtf_buckets"] = dict(zip([*map(str, RTF_BUCKETS), "+Inf"], self.rtf_buckets, strict=True))
        data["disk"] = [space.to_dict() for space in self.disk]
        return data


def snapshot(store: JobStore, settings: Settings, now: datetime | None = None) -> Snapshot:
    """Read the metrics from the database (and the filesystems) at ``now`` (naive UTC; default: the
    database's clock, which the heartbeats' times come from).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    now = now or store.now()
    succeeded = (JobEnding.status == JobStatus.SUCCEEDED, JobEnding.duration > 0,
                 JobEnding.processing_seconds.is_not(None))
    within = [func.coalesce(func.sum(case((JobEnding.processing_seconds <= bound * JobEnding.duration, 1), else_=0)), 0)
              for bound in RTF_BUCKETS]
    with Session(store.engine) as session:
        finished = dict(session.execute(select(JobEnding.status, func.count()).group_by(JobEnding.status)).all())
        audio = session.execute(select(func.coalesce(func.sum(JobEnding.audio_seconds), 0.0))).scalar_one()
        *buckets, count, total = session.execute(select(
            *within, func.count(), func.coalesce(func.sum(JobEnding.processing_seconds / JobEnding.duration), 0.0))
            .where(*succeeded)).one()
        webhooks = dict(session.execute(
            select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)).all())
    try:
        disk = tuple(measure(settings))
    except OSError:
        disk = ()
    runners = tuple(RunnerBeat(r.name, r.state, max(0.0, (now - r.heartbeat_at).total_seconds()))
                    for r in store.runners() if r.state != "stopped")
    return Snapshot(
        jobs=store.counts(),
        finished={status: finished.get(status, 0) for status in in_order(ENDED)},
        audio_seconds=float(audio), rtf_buckets=(*map(int, buckets), int(count)), rtf_sum=float(total),
        runners=runners, disk=disk, min_free_bytes=settings.min_free_bytes,
        webhooks={state.value: webhooks.get(state.value, 0) for state in WebhookState},
    )


class _SnapshotCollector(Collector):
    """Yields one snapshot as Prometheus metric families."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> list[Metric]:
        snap = self.snap
        jobs = GaugeMetricFamily("spoolscribe_jobs", "Jobs per status now (queued: the queue depth).",
                                 labels=["status"])
        for status, count in snap.jobs.items():
            jobs.add_metric([status], count)
        finished = CounterMetricFamily("spoolscribe_jobs_finished", "Jobs that ended, per status (all time).",
                                       labels=["status"])
        for status, count in snap.finished.items():
            finished.add_metric([status], count)
        audio = CounterMetricFamily("spoolscribe_audio_seconds", "Seconds of audio transcribed by ended jobs.",
                                    value=snap.audio_seconds)
        rtf = HistogramMetricFamily(
            "spoolscribe_real_time_factor",
            "Seconds of processing per second of audio of succeeded jobs (from the last claim to the end).",
            buckets=list(zip([*map(str, RTF_BUCKETS), "+Inf"], snap.rtf_buckets, strict=True)), sum_value=snap.rtf_sum)
        beats = GaugeMetricFamily("spoolscribe_runner_heartbeat_age_seconds",
                                  "Seconds since each runner that has not stopped last reported.", labels=["runner"])
        for runner in snap.runners:
            beats.add_metric([runner.name], runner.heartbeat_age)
        free = GaugeMetricFamily("spoolscribe_disk_free_bytes", "Free bytes of the filesystem of a data directory.",
                                 labels=["directory"])
        for space in snap.disk:
            free.add_metric([space.name], space.free_bytes)
        floor = GaugeMetricFamily("spoolscribe_disk_min_free_bytes",
                                  "The free-space floor below which runners claim no job.", value=snap.min_free_bytes)
        webhooks = GaugeMetricFamily("spoolscribe_webhook_deliveries", "Webhook deliveries per state.",
                                     labels=["state"])
        for state, count in snap.webhooks.items():
            webhooks.add_metric([state], count)
        return [jobs, finished, audio, rtf, beats, free, floor, webhooks]


def exposition(snap: Snapshot) -> bytes:
    """The snapshot in the Prometheus text exposition format (``CONTENT_TYPE``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snap))
    return generate_latest(registry)


def _bound(snap: Snapshot, share: float) -> str:
    """The histogram bound under which at least ``share`` of the succeeded jobs' factors lie."""
    for bound, count in zip(RTF_BUCKETS, snap.rtf_buckets, strict=False):  # rtf_buckets also ends with +Inf
        if count >= share * snap.rtf_count:
            return f"<= {bound:g}"
    return f"> {RTF_BUCKETS[-1]:g}"


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def summary_lines(snap: Snapshot) -> list[str]:
    """The snapshot as a few lines of text (``spoolscribe status`` without a job id)."""
    lines = ["jobs now:   " + ", ".join(f"{count} {status}" for status, count in snap.jobs.items()),
             "finished:   " + ", ".join(f"{count} {status}" for status, count in snap.finished.items()) + " (all time)",
             f"audio:      {_span(snap.audio_seconds)} transcribed"]
    if snap.rtf_count:
        lines.append(f"speed:      real-time factor {snap.rtf_sum / snap.rtf_count:.2f} on average over "
                     f"{snap.rtf_count} jobs (half {_bound(snap, 0.5)}, 90% {_bound(snap, 0.9)})")
    beats = [f"{r.name} {r.state} (heartbeat {r.heartbeat_age:.0f} s ago)" for r in snap.runners]
    lines.append("runners:    " + (", ".join(beats) if beats else "none running"))
    if snap.disk:
        lines.append("disk free:  " + ", ".join(f"{s.name} {human_bytes(s.free_bytes)}" + (" (LOW)" if s.low else "")
                                                for s in snap.disk) + f" (floor {human_bytes(snap.min_free_bytes)})")
    if any(snap.webhooks.values()):
        lines.append("webhooks:   " + ", ".join(f"{count} {state}" for state, count in snap.webhooks.items()))
    return lines
