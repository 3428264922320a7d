"""The compat service: the APIs self-hosters' tools already speak, answered from the durable queue.

Bazarr's Whisper provider (whisper-asr-webservice's ``/asr``, ``/detect-language``, ``/status``)
and OpenAI's audio API (``/v1/audio/transcriptions``, ``/v1/audio/translations``, ``/v1/models``),
served by a gunicorn of their own (``spoolscribe compat``, ``spoolscribe-compat.service``) so that
requests held open for an hour never take the status pages' threads. A request becomes a job in
the spool (one job per identical request, ``runner.jobs.once``), and the request waits for the job
by way of one watcher thread per worker (``webui.compat.waiting``); runners transcribe.
See docs/api.md, "Compatible APIs".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from runner.core.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The compat application factory (``gunicorn 'webui.compat:create_app()'``); ``settings`` None
    means read them from the environment.

    Raises:
        runner.core.db.SchemaMismatch: the database is newer than this code.
        runner.core.settings.SettingsError: a ``SPOOLSCRIBE_*`` variable cannot be used.
    """
    from webui.compat.app import build_app

    return build_app(settings)
