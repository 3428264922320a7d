"""The web's gunicorn worker: gthread, with two changes so that slow clients cannot hold it up.

gunicorn's gthread worker (27) has two waits that a slow client controls:

* a new connection holds a thread for up to 5 s while the worker waits for its first byte
  (``gthread.DEFAULT_WORKER_DATA_TIMEOUT``); a deferred connection costs nothing (it waits in the
  poller), so here the thread waits ``FIRST_BYTE_WAIT`` at most;
* a connection whose body was not read to its end is closed "gracefully" by the worker's main
  loop, which lingers up to 2 s reading what the client still sends; while it does, that worker
  accepts nothing and answers no kept-alive connection. ``webui.bodylimits`` marks such bodies
  failed; their connections are closed here at once, without lingering.

Use it with ``worker_class = "webui.worker.ThreadWorker"`` (webui/gunicorn_conf.py).
"""

from __future__ import annotations

from gunicorn import util
from gunicorn.workers import gthread

FIRST_BYTE_WAIT = 0.5  # seconds a thread waits for a new connection's first byte before deferring it


def _body_failed(conn: gthread.TConn) -> bool:
    body = getattr(getattr(conn.parser, "mesg", None), "body", None)
    return getattr(body, "failed", False) is True


class ThreadWorker(gthread.ThreadWorker):
    """gthread with a short wait for first bytes and abrupt closes of abandoned bodies."""

    def init_process(self) -> None:
        """Shorten the first-byte wait (a module constant of gthread) in this worker process."""
        gthread.DEFAULT_WORKER_DATA_TIMEOUT = FIRST_BYTE_WAIT
        super().init_process()

    def handle(self, conn: gthread.TConn):
        """Serve one request (in a thread); note a connection whose body was abandoned."""
        keep = super().handle(conn)
        conn.abandoned = keep is False and _body_failed(conn)  # type: ignore[attr-defined]
        return keep

    def finish_request(self, conn: gthread.TConn, fs) -> None:
        """Close an abandoned connection at once; otherwise as gthread does (in the main loop)."""
        if getattr(conn, "abandoned", False):
            self.nr_conns -= 1
            util.close(conn.sock)
            return
        super().finish_request(conn, fs)
