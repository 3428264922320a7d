"""A runner's upkeep besides its jobs: the disk guard before each claim, recording job endings and
delivering their webhooks (from a thread of its own), and the periodic pass that records missed
endings and sweeps by the retention settings. Nothing here can take the runner down."""

from __future__ import annotations

import logging
import time

from runner.core.diskguard import DiskGuard
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.store import JobStore
from runner.daemon.reaper import sweep_debris
from runner.daemon.webhook_sender import Dispatcher
from runner.jobs.endings import Endings
from runner.jobs.retention import sweep

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 2.0
"""How long a stopping runner waits for a webhook attempt in flight (an unrecorded one is retried
by a runner later: receivers may get a delivery twice, never none)."""


class Upkeep:
    """What a runner does around its jobs (see the module docstring)."""

    def __init__(self, settings: Settings, store: JobStore, spool: Spool, runner: str) -> None:
        self.settings, self.store, self.spool, self.runner = settings, store, spool, runner
        self.guard = DiskGuard(settings, runner)
        self.endings = Endings(store.engine, settings)
        self.dispatcher = Dispatcher(settings, store.engine, runner)
        self._last_sweep: float | None = None
        self._last_debris: float | None = None

    def start(self) -> None:
        """Start delivering webhooks."""
        self.dispatcher.start()

    def stop(self) -> None:
        """Stop delivering webhooks (waiting briefly for an attempt in flight)."""
        self.dispatcher.stop(STOP_WAIT_SECONDS)

    def may_claim(self) -> bool:
        """False while the disk guard pauses claiming (logged once when it starts and ends)."""
        return self.guard.may_claim()

    @property
    def idle_state(self) -> str:
        """The runner's heartbeat state when it holds no job: ``paused`` by the disk guard, or ``idle``."""
        return "paused" if self.guard.paused else "idle"

    def job_ended(self, *job_ids: str) -> None:
        """Record the endings of these jobs (those that have not ended are skipped) and send their
        webhooks now."""
        for job_id in job_ids:
            try:
                if self.endings.record(job_id) is not None:
                    self.dispatcher.wake()
            except Exception:
                log.exception("runner %s: job %s: could not record its ending", self.runner, job_id)

    def tick(self) -> None:
        """The periodic pass: record missed endings; sweep by the retention settings when due, and
        the debris of killed processes every half ``debris_grace``."""
        try:
            if self.endings.record_missed():
                self.dispatcher.wake()
            due = self._last_sweep is None or time.monotonic() - self._last_sweep >= self.settings.retention_interval
            if due:
                self._last_sweep = time.monotonic()
                purged = sweep(self.store, self.spool, self.settings, f"runner {self.runner}")
                if purged:
                    log.info("runner %s: retention removed %d jobs and the media of %d more", self.runner,
                             sum(item.what == "job" for item in purged), sum(item.what == "media" for item in purged))
            if self._last_debris is None or time.monotonic() - self._last_debris >= self.settings.debris_grace / 2:
                self._last_debris = time.monotonic()
                sweep_debris(self.spool, self.settings, self.runner)
        except Exception:
            log.exception("runner %s: upkeep pass failed", self.runner)
