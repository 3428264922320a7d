"""A job's files in the data root: its media in the spool and its outputs, and removing them when
the job is deleted (web, CLI) or its time is up (retention). Nothing outside the spool's media
directory and the data root is ever removed, and never an inbox job's source file."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from runner.core.fsutil import open_regular
from runner.core.schema import Job
from runner.core.settings import Settings
from runner.core.spool import Spool
from runner.core.text import printable

log = logging.getLogger(__name__)


def within(path: Path, root: Path) -> bool:
    """True if ``path`` (symbolic links followed) lies inside ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def media_file(job: Job, spool: Spool) -> Path | None:
    """The job's media in the spool (``<spool>/media/<id>.<ext>``), if it is still there."""
    path = spool.media_path(job.media_path)
    if path.is_file() and within(path, spool.media):
        return path
    return None


def open_media(job: Job, spool: Spool) -> BinaryIO | None:
    """Open the job's media in the spool for reading (without following a symbolic link; a regular
    file only), or None when it is not there or is not such a file. The caller closes it."""
    if media_file(job, spool) is None:
        return None
    try:
        handle, _ = open_regular(spool.media_path(job.media_path))
    except OSError as exc:
        log.warning("job %s: not serving its media: %s", job.id, exc.strerror or exc)
        return None
    return handle


def _unlink(job: Job, path: Path) -> bool:
    """Remove one file (a symbolic link itself, never its target); False if it was not there or
    could not be removed (logged)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("job %s: could not remove %s (%s)", job.id, printable(path), exc.strerror or exc)
        return False
    return True


def remove_media(job: Job, spool: Spool) -> Path | None:
    """Remove the job's media from the spool (for an inbox job: the spool's snapshot, never the
    source); return its path, or None when there was none to remove."""
    media = spool.media_path(job.media_path)
    if media.parent.resolve() != spool.media.resolve() or not media.name.startswith(job.id):
        return None
    return media if _unlink(job, media) else None


def remove_job_files(job: Job, settings: Settings, spool: Spool, keep_inbox_results: bool = False) -> list[Path]:
    """Remove a deleted job's media, its output files and its ``<home>/outputs/<id>`` directory;
    return what was removed. Outputs outside the data root are left alone, and with
    ``keep_inbox_results`` also those in the inbox or the outbox (results delivered to people's
    folders). A file that cannot be removed is logged, not raised."""
    removed = [path for path in [remove_media(job, spool)] if path is not None]
    kept_roots = [root for root in (settings.inbox_dir, settings.outbox_dir) if root is not None and keep_inbox_results]
    for name in job.outputs or []:
        parent = Path(name).parent
        if within(parent, settings.home) and not any(within(parent, root) for root in kept_roots) \
                and _unlink(job, Path(name)):
            removed.append(Path(name))
    directory = settings.outputs_dir / job.id
    if directory.is_dir() and not directory.is_symlink():
        try:
            shutil.rmtree(directory)
            removed.append(directory)
        except OSError as exc:
            log.warning("job %s: could not remove %s (%s)", job.id, printable(directory), exc.strerror or exc)
    return removed
