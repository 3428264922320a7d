"""The web's gunicorn worker: gthread, changed so that slow clients cannot hold its threads.

gunicorn's gthread worker (27) lets a slow client hold a thread, or its main loop, in three ways;
this subclass closes each:

* the request head (request line and headers) is read in a thread, blocking, for as long as the
  client takes: a dozen clients sending a header byte a second hold every thread. Here a thread
  takes a connection only once its whole head is in the socket's buffer (looked at with
  ``MSG_PEEK``); until then the connection waits in the worker's poller, which wakes only when
  more bytes arrived (``SO_RCVLOWAT``), and a head not complete ``HEAD_TIMEOUT`` seconds after its
  first look is closed. A new connection without bytes yet is deferred at once (gthread waits 5 s);
* a connection whose body was not read to its end is closed "gracefully" by the worker's main
  loop, which lingers up to 2 s reading what the client still sends; while it does, that worker
  accepts nothing and answers no kept-alive connection. ``webui.bodylimits`` marks such bodies
  failed; their connections are closed here at once, without lingering;
* reading the body itself is bounded by ``webui.bodylimits``.

TLS terminated by gunicorn itself is left to gthread (the bytes to look at would be encrypted);
the web serves plain HTTP behind a proxy. Use it with ``worker_class = "webui.worker.ThreadWorker"``.
"""

from __future__ import annotations

import socket
import time

from gunicorn import util
from gunicorn.workers import gthread

HEAD_TIMEOUT = 10.0  # seconds a client has to send a request's line and headers
HEAD_PEEK = 65536  # bytes looked at for the end of the head; a longer head goes to gunicorn's parser


def _body_failed(conn: gthread.TConn) -> bool:
    body = getattr(getattr(conn.parser, "mesg", None), "body", None)
    return getattr(body, "failed", False) is True


def _head_arrived(conn: gthread.TConn) -> bool:
    """True when gunicorn's parser can take the connection without waiting on the client: the whole
    head is buffered (by the kernel, or by gunicorn when it read ahead), the client closed, or no
    more bytes came since the last look (an error or a close gunicorn must see)."""
    if conn.parser is not None and conn.parser.unreader.buf.getvalue():
        return True
    try:
        data = conn.sock.recv(HEAD_PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    seen, conn.head_seen = getattr(conn, "head_seen", -1), len(data)
    return not data or b"\r\n\r\n" in data or len(data) >= HEAD_PEEK or len(data) <= seen


class ThreadWorker(gthread.ThreadWorker):
    """gthread that hands a connection to a thread only with its request head complete, and closes
    abandoned bodies' connections at once."""

    def handle(self, conn: gthread.TConn):
        """Serve one request (in a thread), or put the connection back to wait for the rest of its
        head, or give up on it when the head takes longer than ``HEAD_TIMEOUT``."""
        conn.abandoned = False
        if not self.cfg.is_ssl:
            now = time.monotonic()
            started = getattr(conn, "head_started", None) or now
            if not _head_arrived(conn):
                if now - started > HEAD_TIMEOUT:
                    conn.abandoned = True
                    return False
                conn.head_started = started
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, max(1, getattr(conn, "head_seen", 0) + 1))
                return gthread._DEFER  # the poller wakes the connection when more bytes arrived
            conn.head_started, conn.head_seen, conn.data_ready = None, -1, True
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
        keep = super().handle(conn)
        conn.abandoned = keep is False and _body_failed(conn)
        return keep

    def finish_request(self, conn: gthread.TConn, fs) -> None:
        """Close an abandoned connection at once; otherwise as gthread does (in the main loop)."""
        if getattr(conn, "abandoned", False) and not fs.cancelled() and fs.result() is False:
            self.nr_conns -= 1
            util.close(conn.sock)
            return
        super().finish_request(conn, fs)
