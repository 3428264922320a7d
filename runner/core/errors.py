"""The root of spoolscribe's own errors, and the job store's.

Every error the code raises for a person to act on derives from ``SpoolscribeError`` (its message
says what to do); each stays in the module that raises it (``SettingsError`` in
``runner.core.settings``, ``OptionsError`` in ``runner.core.options``, ``MediaError`` in
``runner.daemon.media``, ...). Callers catch the specific class; the command line's last resort
(``runner.cli.app.fails_cleanly``) catches ``SpoolscribeError``.
"""

from __future__ import annotations


class SpoolscribeError(Exception):
    """An error of spoolscribe's own, with a message a person can act on."""


class JobNotFound(SpoolscribeError):
    """No job has this id (never submitted, or deleted). ``job_id``: the id asked for."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id}; it may have been deleted")
        self.job_id = job_id


class JobStateError(SpoolscribeError):
    """A change that the job's current state does not allow (e.g. retrying a running job)."""
