"""Returning abandoned jobs to the queue and making the spool agree with the database.

A job is abandoned when its lease expired: its runner died (SIGKILL, out of memory, reboot)
without handing it back. It goes back to the queue with its checkpoint, or, after the maximum
number of claims, ends failed with "abandoned after N attempts (last runner X)".
"""

from __future__ import annotations

import logging
from pathlib import Path

from runner.core.fsutil import sweep_temporaries
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.states import ENDED
from runner.core.store import JobStore
from runner.daemon.inbox_results import leave_error_file
from runner.jobs.submit import job_file_of

log = logging.getLogger(__name__)

REPAIR_GRACE_SECONDS = 60.0
"""A queued job's file may be missing from ``new/`` this long (a submission or claim in flight)."""


def reap_abandoned(store: JobStore, spool: Spool, settings: Settings, reaper: str, starting: bool = False) -> list[str]:
    """Requeue or fail every running job whose lease has expired; return their ids.

    With ``starting``, jobs still marked as held by ``reaper`` itself are taken back too: a runner
    that starts under a name (systemd restarts ``runner@1`` as ``1``) knows its predecessor is dead.
    """
    reaped = []
    for job in store.expired_leases(held_by=reaper if starting else None):
        if job.attempts >= settings.max_attempts:
            message = f"abandoned after {job.attempts} attempts (last runner {job.runner})"
            if store.end_abandoned(job.id, job.runner, job.lease_expires_at, error=message):
                spool.finish(job.id)
                leave_error_file(settings, store, job_file_of(job), message, reaper)
                log.warning("runner %s: job %s failed: %s", reaper, job.id, message)
                reaped.append(job.id)
        elif store.end_abandoned(job.id, job.runner, job.lease_expires_at):
            spool.hand_back(job_file_of(job))
            store.announce(job.id)
            log.warning("runner %s: job %s returned to the queue: runner %s abandoned it (attempt %d of %d)",
                        reaper, job.id, job.runner, job.attempts, settings.max_attempts)
            reaped.append(job.id)
    return reaped


def repair_spool(store: JobStore, spool: Spool, reaper: str, grace: float = REPAIR_GRACE_SECONDS) -> list[str]:
    """Re-deliver queued jobs whose job file is missing or stuck in ``cur/``; return their ids."""
    repaired = []
    pending = set(spool.pending())
    spool_now = spool.clock()
    for job in store.queued_before(grace):
        if job.id in pending:
            continue
        claimed = spool.cur / f"{job.id}.json"
        try:
            stuck = spool_now - claimed.stat().st_ctime > grace  # ctime: when it was renamed there
        except FileNotFoundError:
            stuck = True
        if stuck:
            spool.hand_back(job_file_of(job))
            store.announce(job.id)
            log.warning("runner %s: job %s was queued without a pending job file; re-delivered", reaper, job.id)
            repaired.append(job.id)
    for job_id in spool.claimed():
        claimed_job = store.get(job_id)
        if claimed_job is not None and claimed_job.status in ENDED:
            spool.finish(job_id)
    return repaired


def sweep_debris(spool: Spool, settings: Settings, reaper: str, now: float | None = None) -> list[Path]:
    """Remove the temporary files (``runner.core.fsutil.temporary_name``) a killed process left in
    the spool's ``media/`` and ``tmp/``, and, in their whole trees, the outputs, the inbox and the
    outbox, once unchanged for ``Settings.debris_grace`` seconds; return what was removed. Only
    that name pattern and only the service user's own files: never a user's file. ``now`` (seconds
    since the epoch) defaults to the spool filesystem's clock (``Spool.clock``).
    """
    now = spool.clock() if now is None else now
    removed = [*sweep_temporaries(spool.media, settings.debris_grace, now),
               *sweep_temporaries(spool.tmp, settings.debris_grace, now)]
    for tree in (settings.outputs_dir, settings.inbox_dir, settings.outbox_dir):
        if tree is not None:
            removed += sweep_temporaries(tree, settings.debris_grace, now, recursive=True)
    for path in removed:
        log.warning("runner %s: removed %s, a temporary file a killed process left behind", reaper, path)
    return removed
