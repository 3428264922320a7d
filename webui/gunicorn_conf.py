"""Gunicorn settings of the web: ``gunicorn -c webui/gunicorn_conf.py 'webui:create_app()'``
(or ``-c python:webui.gunicorn_conf`` when installed). ``spoolscribe web`` uses the same file.

Values come from the ``SPOOLSCRIBE_*`` variables like every other setting (``SPOOLSCRIBE_WEB_BIND``,
``SPOOLSCRIBE_WEB_WORKERS``, ``SPOOLSCRIBE_WEB_THREADS``); gunicorn's own flags given on its command
line win over this file.

The worker is gunicorn's gthread as ``webui.worker.ThreadWorker``: a thread takes a connection only
once its request head has arrived (slow heads wait in the poller and are closed after 10 s), and
abandoned connections are closed at once. Status requests only read SQLite and are quick; request
bodies are read by at most ``SPOOLSCRIBE_WEB_UPLOAD_SLOTS`` threads of a worker at once, each at a
minimum pace (``webui.bodylimits``), so slow clients and bursts of uploads leave the other threads
to ``/healthz`` and the status reads (docs/security.md has the measurements).
"""

import logging

from gunicorn.glogging import Logger

from runner.core.logs import configure_logging, under_journal
from runner.core.settings import Settings


class JournalLogger(Logger):
    """gunicorn's own lines without a timestamp: the journal adds one."""

    error_fmt = "[%(process)d] [%(levelname)s] %(message)s"


_settings = Settings.from_env()

bind = [_settings.web_bind]
workers = _settings.web_workers
threads = _settings.web_threads
worker_class = "webui.worker.ThreadWorker"
worker_connections = 500  # open connections per worker; more wait in the listen backlog
limit_request_line = 4094  # bytes of the request line
limit_request_fields = 50  # header lines
limit_request_field_size = 8190  # bytes of one header line
timeout = 60  # seconds a worker may go silent towards the arbiter before it is restarted
graceful_timeout = 20
keepalive = 5
max_requests = 5000  # recycle workers now and then (jittered), so no slow leak can grow
max_requests_jitter = 500
worker_tmp_dir = "/dev/shm"  # the workers' heartbeat files: never wait on a busy disk
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'  # no headers, so no credentials
errorlog = "-"
proc_name = "spoolscribe-web"
control_socket_disable = True  # gunicorn >= 25: no shared control socket under ~/.gunicorn
if under_journal():
    logger_class = JournalLogger


def on_starting(server) -> None:
    """Log through the same handler as the application (one line per event, to stderr)."""
    if not logging.getLogger().handlers:
        configure_logging(verbose=False)


def when_ready(server) -> None:
    """Warn once listening when the address is reachable beyond loopback without a token."""
    from webui.auth import warn_if_exposed

    warn_if_exposed(server.cfg.address, _settings)
