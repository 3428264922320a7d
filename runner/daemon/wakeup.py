"""A runner's wake-up from PostgreSQL: ``LISTEN`` on the job store's announcement channel.

File events (inotify) never report another host's writes to a shared spool (NFS), so on PostgreSQL
a runner also listens for the ``NOTIFY`` that ``JobStore.announce`` sends once a job file is in
``new/``: a job submitted on any host wakes idle runners on every host within milliseconds. The
spool's rescan (``Settings.rescan_interval``) stays the safety net for a lost notification.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from runner.core.store import JOBS_CHANNEL

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""Longest wait for a notification before the stop flag is looked at again."""
RECONNECT_SECONDS = 5.0
"""Pause after the listening connection failed (the server restarted, the network went away)."""


class JobAnnouncements:
    """Sets ``wake`` for each job announced on ``JOBS_CHANNEL``, from a thread of its own with a
    connection of its own (not the pool's), reconnecting after errors; and once after each
    (re)connection, for what was announced while it was not listening."""

    def __init__(self, engine: Engine, wake: threading.Event, runner: str) -> None:
        self.wake, self.runner = wake, runner
        self._engine = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()
        """Set while the LISTEN is in place (tests wait for it)."""

    def start(self) -> None:
        """Start listening (a daemon thread: it never keeps the process alive)."""
        self._thread = threading.Thread(target=self._run, name="announcements", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = POLL_SECONDS + 1.0) -> None:
        """Stop listening and close the connection (within about ``POLL_SECONDS``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._engine.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # the server went away for a moment: listen again later
                log.warning("runner %s: job announcements interrupted (%s); listening again in %.0f s",
                            self.runner, exc, RECONNECT_SECONDS)
            finally:
                self.listening.clear()
            self._stop.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        with self._engine.connect() as conn:
            conn.exec_driver_sql(f"LISTEN {JOBS_CHANNEL}")
            self.listening.set()
            self.wake.set()
            listener = conn.connection.driver_connection  # the psycopg connection
            if listener is None:  # cannot happen: the connection was just opened
                raise RuntimeError("no driver connection to listen on")
            while not self._stop.is_set():
                for _notification in listener.notifies(timeout=POLL_SECONDS):
                    self.wake.set()
