"""A job's files as the web serves and removes them: its media in the spool, its output files,
its transcript lines. Nothing outside the data root is ever read or removed."""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from runner.models import Job, JobSource
from runner.settings import Settings
from runner.spool import Spool
from runner.store import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Line:
    """One transcript line: ``start``/``end`` in seconds from the start of the audio, and its text."""

    start: float
    end: float
    text: str


def _within(path: Path, root: Path) -> bool:
    """True if ``path`` (symbolic links followed) lies inside ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def output_file(job: Job, fmt: str, settings: Settings) -> Path | None:
    """The job's output file of format ``fmt`` (``txt``, ``srt``, ``vtt``, ``json``), if it was
    written and still exists inside the data root, or, for an inbox job, the inbox or outbox."""
    roots = [settings.home]
    if job.source == JobSource.INBOX.value:
        roots += [root for root in (settings.inbox_dir, settings.outbox_dir) if root is not None]
    for name in job.outputs or []:
        path = Path(name)
        if path.suffix == f".{fmt}" and path.is_file() and any(_within(path, root) for root in roots):
            return path
    return None


def media_file(job: Job, spool: Spool) -> Path | None:
    """The job's media in the spool (``<spool>/media/<id>.<ext>``), if it is still there."""
    path = spool.media_path(job.media_path)
    if path.is_file() and _within(path, spool.media):
        return path
    return None


def transcript_lines(job: Job, settings: Settings, store: JobStore) -> list[Line]:
    """The job's transcript: the segments of its JSON output, or, without one (still running, or
    no ``json`` format asked for), the segments its runner has checkpointed so far.

    Raises:
        OSError, ValueError: the JSON output exists but cannot be read or parsed.
    """
    path = output_file(job, "json", settings)
    if path is None:
        return [Line(s.start, s.end, s.text) for s in store.segments(job.id)]
    document = json.loads(path.read_bytes().decode("utf-8"))
    return [Line(float(s["start"]), float(s["end"]), str(s["text"])) for s in document.get("segments", [])]


def remove_job_files(job: Job, settings: Settings, spool: Spool) -> list[Path]:
    """Remove a deleted job's media, its output files and its ``<home>/outputs/<id>`` directory;
    return what was removed. Paths outside the spool's media directory or the data root are left
    alone, and a file that cannot be removed is logged, not raised."""
    candidates: list[Path] = []
    media = spool.media_path(job.media_path)
    if media.parent.resolve() == spool.media.resolve() and media.name.startswith(job.id):
        candidates.append(media)
    candidates.extend(Path(name) for name in job.outputs or [] if _within(Path(name).parent, settings.home))
    removed = []
    for path in candidates:
        try:
            os.unlink(path)  # a symbolic link is removed itself, never its target
            removed.append(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("web: job %s: could not remove %s (%s)", job.id, path, exc)
    directory = settings.outputs_dir / job.id
    if directory.is_dir() and not directory.is_symlink():
        try:
            shutil.rmtree(directory)
            removed.append(directory)
        except OSError as exc:
            log.warning("web: job %s: could not remove %s (%s)", job.id, directory, exc)
    return removed
