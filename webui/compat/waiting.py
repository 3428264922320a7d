"""Held requests: how compat requests wait for their jobs without polling the database each.

One ``Watcher`` per worker process: while any request waits, its thread reads the state of every
awaited job in one query each ``interval`` seconds and wakes the waiting threads whose job changed
(a new status or new segments). The number of requests a worker holds is bounded (``hold``):
beyond ``capacity`` a request is refused at once rather than left hanging (``acquire``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from runner.core.schema import Job, JobStatus, SegmentRecord
from runner.core.states import ENDED

log = logging.getLogger(__name__)

GONE = "deleted"
"""The status the watcher reports for a job whose row no longer exists."""


@dataclass(frozen=True)
class JobState:
    """What a waiting request needs of its job: its status and how many segments are persisted."""

    status: str
    segments: int

    @property
    def ended(self) -> bool:
        """True once the job has finished (or its row is gone)."""
        return self.status == GONE or JobStatus(self.status) in ENDED


class Full(Exception):
    """This worker already holds as many requests as it may."""


class Watcher:
    """Wakes requests waiting for jobs (see the module's description); thread-safe.

    ``capacity``: most requests held at once; ``interval``: seconds between two reads while any waits.
    """

    def __init__(self, engine: Engine, capacity: int, interval: float = 0.5) -> None:
        self.engine, self.capacity, self.interval = engine, capacity, interval
        self._changed = threading.Condition()
        self._awaited: Counter[str] = Counter()
        self._states: dict[str, JobState] = {}
        self._held = 0
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> int:
        """Requests held now."""
        return self._held

    def acquire(self) -> None:
        """Count one more request as held (``release`` it when it is answered).

        Raises:
            Full: ``capacity`` requests are held already.
        """
        with self._changed:
            if self._held >= self.capacity:
                raise Full()
            self._held += 1

    def release(self) -> None:
        """Count a held request as answered."""
        with self._changed:
            self._held -= 1

    def wait(self, job_id: str, seen: JobState | None, timeout: float) -> JobState | None:
        """Block until the job's state differs from ``seen`` (at once if it already does), at most
        ``timeout`` seconds; return the state, or None when none was read yet."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._awaited[job_id] += 1
            self._start()
            self._changed.notify_all()  # the watcher may be asleep with nothing to watch
            try:
                while True:
                    state = self._states.get(job_id)
                    left = deadline - time.monotonic()
                    if (state is not None and state != seen) or left <= 0:
                        return state
                    self._changed.wait(left)
            finally:
                self._awaited[job_id] -= 1
                if not self._awaited[job_id]:
                    del self._awaited[job_id]
                    self._states.pop(job_id, None)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():  # also after a fork
            self._thread = threading.Thread(target=self._run, name="compat-watcher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._awaited:
                    self._changed.wait()
                ids = list(self._awaited)
            try:
                states = self._read(ids)
            except SQLAlchemyError as exc:  # a locked or briefly unreachable database: try again
                log.warning("compat: could not read the awaited jobs (%s)", exc)
                states = {}
            with self._changed:
                changed = False
                for job_id, state in states.items():
                    if job_id in self._awaited and self._states.get(job_id) != state:
                        self._states[job_id] = state
                        changed = True
                if changed:
                    self._changed.notify_all()
            time.sleep(self.interval)

    def _read(self, ids: list[str]) -> dict[str, JobState]:
        query = (select(Job.id, Job.status, func.count(SegmentRecord.index))
                 .outerjoin(SegmentRecord, SegmentRecord.job_id == Job.id)
                 .where(Job.id.in_(ids)).group_by(Job.id, Job.status))
        with Session(self.engine) as session:
            found = {job_id: JobState(status, count) for job_id, status, count in session.execute(query)}
        return {job_id: found.get(job_id, JobState(GONE, 0)) for job_id in ids}
