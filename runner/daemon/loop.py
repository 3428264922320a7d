"""The runner daemon: waits on the spool, claims one job at a time, heartbeats, reaps.

It wakes on file events in the spool's ``new/`` (this host's writes), on PostgreSQL's job
announcements (``runner.daemon.wakeup``: any host's submissions), and every ``rescan_interval``
seconds in any case (the safety net; on a network filesystem without PostgreSQL the only way to see
another host's jobs).

``Runner.loop()`` claims and performs at most one job; ``Runner.run()`` is the only place that
waits, handles signals and keeps the daemon alive (huey's consumer and rq's worker are the models).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from runner.core.db import is_postgresql
from runner.core.settings import Settings
from runner.core.spool import JobFileError, Spool
from runner.core.states import ENDED, JobStatus
from runner.core.store import JobStore
from runner.core.text import printable
from runner.daemon.diarize import Diarizer
from runner.daemon.perform import WorkContext, perform_job
from runner.daemon.reaper import reap_abandoned, repair_spool
from runner.daemon.recognizer import Recognizer
from runner.daemon.upkeep import Upkeep
from runner.daemon.wakeup import JobAnnouncements
from runner.jobs.submit import job_file_of

log = logging.getLogger(__name__)


def runner_name(settings: Settings, name: str | None = None) -> str:
    """``name`` as given, else ``<host_name>-<pid>``. A name must be unique across the hosts sharing
    the job store (the systemd units give ``<host>-<instance>``): a runner starting under a name takes
    back that name's running jobs at once."""
    return name or f"{settings.host_name}-{os.getpid()}"


class _Wake(FileSystemEventHandler):
    """Wakes the runner when anything changes in the pending directory."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.event.set()


class Runner:
    """One runner daemon: a name, the store, the spool and a warm engine (any ``Recognizer``;
    faster-whisper's ``Engine`` in production)."""

    def __init__(self, settings: Settings, store: JobStore, spool: Spool, engine: Recognizer, name: str) -> None:
        self.settings, self.store, self.spool, self.engine, self.name = settings, store, spool, engine, name
        self.current: str | None = None
        self.started_at = store.now()
        self.device = f"{settings.device} {settings.effective_compute_type}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._signals = 0
        self._stop_asked_at: float | None = None
        self._upkeep = Upkeep(settings, store, spool, name)
        self._context = WorkContext(settings, store, spool, engine, name, self._stop.is_set, Diarizer(settings))

    # -- one iteration ----------------------------------------------------------------------------

    def loop(self) -> bool:
        """Claim and perform at most one pending job; True if one was taken (none while the disk
        guard pauses claiming)."""
        if not self._upkeep.may_claim():
            return False
        for job_id in self.spool.pending():
            if self._stop.is_set():
                return False
            path = self.spool.claim(job_id)
            if path is None:
                continue  # another runner won the rename
            try:
                job = self.spool.read(path)
            except JobFileError as exc:
                self._reject(job_id, path, str(exc))
                continue
            if not self._claim_row(job):
                continue
            self.current = job.id
            self._beat("busy")
            log.info("runner %s: job %s claimed (%s)", self.name, job.id, printable(job.original_name))
            try:
                outcome = perform_job(job, self._context)
            finally:
                self.current = None
            self._upkeep.job_ended(job.id)
            if outcome in ENDED:
                self.spool.finish(job.id)
            self._beat("idle")
            return True
        return False

    def _reject(self, job_id: str, path: Path, reason: str) -> None:
        """Quarantine a job file that cannot be used and end its queued job failed with the reason
        (once: a failed job is never re-delivered)."""
        self.spool.quarantine(path, reason)
        if self.store.reject(job_id, f"the job file was rejected: {reason}"):
            log.warning("runner %s: job %s failed: its job file was rejected", self.name, job_id)
            self._upkeep.job_ended(job_id)

    def _claim_row(self, job) -> bool:
        if self.store.claim(job.id, self.name, self.settings.lease_seconds, self.device):
            return True
        existing = self.store.get(job.id)
        if existing is None:  # a job file delivered without its row: the file is the truth
            self.store.add(job)
            return self.store.claim(job.id, self.name, self.settings.lease_seconds, self.device)
        if existing.status != JobStatus.QUEUED:  # cancelled (or ended) while pending
            self.spool.finish(job.id)
        return False

    # -- the daemon ---------------------------------------------------------------------------------

    def run(self, burst: bool = False) -> int:
        """Work until stopped (SIGTERM/SIGINT) or, with ``burst``, until the queue is empty.

        The first signal stops taking jobs and hands the current one back with its checkpoint;
        a second one exits at once. Returns the process exit code.
        """
        self._install_signals()
        if self.settings.nice:
            os.nice(self.settings.nice)
        self.engine.model()  # load the default model once, before the first job
        observer = self._watch()
        announcements = JobAnnouncements(self.store.engine, self._wake, self.name) \
            if is_postgresql(self.store.engine) else None
        if announcements is not None:
            announcements.start()
        beating = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        beating.start()
        self._upkeep.start()
        log.info("runner %s: started (model %s, %d threads, pid %d)", self.name, self.settings.model,
                 self.settings.effective_threads, os.getpid())
        self._reap(starting=True)
        last_reap = time.monotonic()
        try:
            while not self._stop.is_set():
                if time.monotonic() - last_reap >= self.settings.reap_interval:
                    self._reap()
                    last_reap = time.monotonic()
                self._wake.clear()
                if self.loop():
                    continue
                if burst:
                    break
                self._wake.wait(self.settings.rescan_interval)
        finally:
            self._stop.set()
            self._upkeep.stop()
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
            if announcements is not None:
                announcements.stop()
            self._beat("stopped")
            log.info("runner %s: stopped", self.name)
        return 0

    def _reap(self, starting: bool = False) -> None:
        try:
            self._upkeep.job_ended(*reap_abandoned(self.store, self.spool, self.settings, self.name, starting=starting))
            repair_spool(self.store, self.spool, self.name)
            self.spool.sweep_tmp()
        except Exception:  # the reaper must never take the runner down
            log.exception("runner %s: reaper pass failed", self.name)
        self._upkeep.tick()

    def _watch(self):
        observer = Observer()
        observer.schedule(_Wake(self._wake), str(self.spool.new), recursive=False)
        try:
            observer.start()
        except OSError as exc:
            log.warning("runner %s: cannot watch %s (%s); rescanning every %.0f s instead",
                        self.name, self.spool.new, exc, self.settings.rescan_interval)
            return None
        return observer

    def _heartbeat_loop(self) -> None:
        """Extend the current job's lease every few seconds (CTranslate2 releases the GIL while it
        computes, so this thread runs even when the model keeps every core busy); after a stop
        request, enforce ``stop_grace``."""
        while True:
            stopping = self._stop.wait(min(self.settings.heartbeat_interval, 1.0) if self._stop.is_set()
                                       else self.settings.heartbeat_interval)
            job_id = self.current
            if stopping and job_id is None:
                return
            try:
                if stopping and job_id is not None:  # stopping with no job returned above
                    self._enforce_stop_grace(job_id)
                    self.store.extend_lease(job_id, self.name, self.settings.lease_seconds)
                    continue
                if job_id is not None:
                    self.store.extend_lease(job_id, self.name, self.settings.lease_seconds)
                self._beat("busy" if job_id else self._upkeep.idle_state)
            except Exception:
                log.exception("runner %s: heartbeat failed", self.name)

    def _enforce_stop_grace(self, job_id: str) -> None:
        """Past the grace period, hand the job back from its last checkpoint and exit at once."""
        if self._stop_asked_at is None:
            self._stop_asked_at = time.monotonic()
            log.info("runner %s: stopping; job %s will be handed back at its next segment", self.name, job_id)
        if time.monotonic() - self._stop_asked_at < self.settings.stop_grace:
            return
        job = self.store.get(job_id)
        if job is not None and self.store.release(job_id, self.name):
            self.spool.hand_back(job_file_of(job))
            self.store.announce(job_id)
            log.warning("runner %s: job %s handed back from its last checkpoint (no segment boundary within %.0f s)",
                        self.name, job_id, self.settings.stop_grace)
        self._beat("stopped")
        logging.shutdown()
        os._exit(0)

    def _beat(self, state: str) -> None:
        self.store.heartbeat(self.name, state, self.current, self.started_at, self.settings.host_name)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def stop(self) -> None:
        """Ask ``run()`` to stop, as the first SIGTERM does: no new job is taken, and the current one is
        handed back with its checkpoint at its next segment (finished instead when nearly done). Only
        sets flags, so it is safe in a signal handler and from any thread."""
        self._stop.set()
        self._wake.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only flags here: logging and database work are not safe inside a signal handler.
        self._signals += 1
        if self._signals > 1:
            os._exit(128 + signum)
        self.stop()
