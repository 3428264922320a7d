"""Gunicorn settings of the compat service: ``gunicorn -c python:webui.compat.gunicorn_conf
'webui.compat:create_app()'`` (``spoolscribe compat`` and spoolscribe-compat.service use it).

The web's settings (``webui.gunicorn_conf``), except: ``SPOOLSCRIBE_COMPAT_BIND`` and
``SPOOLSCRIBE_COMPAT_WORKERS``; as many threads per worker as the requests it may hold
(``SPOOLSCRIBE_COMPAT_MAX_WAITING``) plus ``SPARE_THREADS`` that answer at once (the 503 beyond the
bound, ``/status``, results already made); and no recycling of workers after a number of requests,
which would cut the requests they hold.
"""

from runner.core.logs import under_journal
from runner.core.settings import Settings
from webui.gunicorn_conf import (  # noqa: F401 (gunicorn reads these names from this module)
    access_log_format,
    accesslog,
    control_socket_disable,
    errorlog,
    graceful_timeout,
    keepalive,
    on_starting,
    timeout,
    when_ready,
    worker_class,
    worker_tmp_dir,
)

SPARE_THREADS = 4

_settings = Settings.from_env()

bind = [_settings.compat_bind]
workers = _settings.compat_workers
threads = _settings.compat_max_waiting + SPARE_THREADS
max_requests = 0
proc_name = "spoolscribe-compat"
if under_journal():
    from webui.gunicorn_conf import JournalLogger

    logger_class = JournalLogger
