"""spoolscribe's web tier: a Flask app served by gunicorn that delivers uploads into the spool and
reads the job store. It never imports the speech stack (faster-whisper, CTranslate2, ONNX Runtime,
torch): heavy work belongs to the runner processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from runner.core.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The application factory (``gunicorn 'webui:create_app()'``).

    ``settings`` None means read them from the environment (the web's edge). The database is
    migrated if it is behind. Flask itself is imported only here, so that small helpers of this
    package (``python -m webui.probe``) start without it.

    Raises:
        runner.core.db.SchemaMismatch: the database is newer than this code.
        runner.core.settings.SettingsError: a ``SPOOLSCRIBE_*`` variable cannot be used.
    """
    from webui.app import build_app

    return build_app(settings)
