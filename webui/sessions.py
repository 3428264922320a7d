"""Logins kept on the server, so that a logout ends them for good.

A login gets a random id, kept in the signed cookie and as an empty file ``<home>/web-sessions/<id>``
(mode 0600) whose age is the login's age; a request's session counts only while its file exists
and is younger than the session lifetime. Logging out deletes the file, so a copy of the cookie
taken before no longer works. Files work for every gunicorn worker and survive restarts;
expired ones are swept at each login.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

SESSIONS_DIR = "web-sessions"
_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class SessionStore:
    """The logins of one spoolscribe home: ``directory`` holds one file per login, valid for
    ``lifetime`` seconds."""

    def __init__(self, directory: Path, lifetime: float) -> None:
        self.directory, self.lifetime = directory, lifetime

    def _path(self, session_id: object) -> Path | None:
        if not isinstance(session_id, str) or not _ID.fullmatch(session_id):
            return None
        return self.directory / session_id

    def create(self) -> str:
        """A new login's id (its file created, expired ones removed).

        Raises:
            OSError: the directory cannot be created or written.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep()
        session_id = secrets.token_urlsafe(32)
        os.close(os.open(self.directory / session_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return session_id

    def valid(self, session_id: object) -> bool:
        """True while ``session_id`` (from a cookie: anything) names a login that has not ended or expired."""
        path = self._path(session_id)
        try:
            return path is not None and time.time() - path.stat().st_mtime < self.lifetime
        except OSError:
            return False

    def end(self, session_id: object) -> None:
        """End the login ``session_id`` (nothing when there is none)."""
        path = self._path(session_id)
        if path is not None:
            path.unlink(missing_ok=True)

    def sweep(self) -> None:
        """Remove the files of expired logins."""
        cutoff = time.time() - self.lifetime
        for entry in os.scandir(self.directory):
            try:
                if _ID.fullmatch(entry.name) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass  # another worker swept it
