"""Where the results of an inbox job go: next to the source file (``talk.wav`` gives ``talk.txt``,
``talk.srt``, ...) or, when an outbox is configured, into a tree under it that mirrors the inbox.

A file that is already there is never replaced: that output takes the distinct name
``talk.spoolscribe.srt`` (then ``talk.spoolscribe-2.srt``, ...). A failed job leaves
``talk.wav.error.txt`` with the message. Used by runners (``runner.daemon.perform``); light imports only.

Media-library naming (the folder setting ``naming = "media"``): the subtitles are named as media
servers pick them up, ``Movie (2020).en.srt`` (and ``.vtt``), and the other formats go to the job's
own outputs directory. Such a name is never replaced and no other name is made up: when a subtitle
in that language is already there the subtitles are skipped (``existing_subtitle``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from runner.core.fsutil import atomic_write
from runner.core.schema import JobSource
from runner.core.settings import Settings
from runner.core.spool import JobFile
from runner.core.text import printable
from runner.output.languages import tags_of
from runner.output.naming import output_paths, safe_stem

log = logging.getLogger(__name__)

MARKER = "spoolscribe"
MAX_VARIANTS = 1000
SUBTITLE_FORMATS = ("srt", "vtt")
"""The formats a media-library folder writes beside the video."""
SUBTITLE_SUFFIXES = frozenset({".srt", ".vtt", ".ass", ".ssa", ".sub"})
"""Subtitle files a media server would show: one in the job's language means skip."""


def is_inbox_job(job: JobFile) -> bool:
    """True for a job made from a file in the inbox (its results go to the inbox or outbox)."""
    return job.source == JobSource.INBOX.value and bool(job.inbox_path)


def results_dir(settings: Settings, job: JobFile) -> Path | None:
    """The directory for the results of an inbox job: the mirrored folder in the outbox (created)
    when one is configured, else the source's own folder (symbolic links resolved); None when the
    source does not lie in the inbox (a hand-placed job file may name any path: its results go
    to ``<home>/outputs/<id>/`` instead) or its folder is gone or now leads out of the inbox
    (moved, deleted or replaced by a link meanwhile: it is not made again).

    Raises:
        OSError: the outbox folder cannot be created.
    """
    source = Path(os.path.normpath(job.inbox_path or job.original_name))
    outbox, inbox = settings.outbox_dir, settings.inbox_dir
    if not source.is_relative_to(inbox):
        return None
    if outbox is not None:
        directory = outbox / source.parent.relative_to(inbox)
        directory.mkdir(parents=True, exist_ok=True)
        return directory
    directory = source.parent.resolve()
    return directory if directory.is_dir() and directory.is_relative_to(inbox.resolve()) else None


def _variants(stem: str) -> Iterator[str]:
    yield stem
    yield f"{stem}.{MARKER}"
    for number in range(2, MAX_VARIANTS):
        yield f"{stem}.{MARKER}-{number}"


def free_names(directory: Path, stem: str, suffix: str) -> Iterator[Path]:
    """``directory/<variant><suffix>`` for the variants ``talk``, ``talk.spoolscribe``,
    ``talk.spoolscribe-2``, ... in order, skipping names taken when each is produced."""
    for variant in _variants(stem):
        path = directory / f"{variant}{suffix}"
        if not os.path.lexists(path):
            yield path


def inbox_output_paths(settings: Settings, job: JobFile, formats: tuple[str, ...] | None = None) -> dict[str, Path]:
    """``{format: path}`` for the outputs of an inbox job: named after the source file, in its
    results directory, each under the first name no existing file has. When the source's folder
    is gone or not in the inbox, the job's own outputs directory (``<home>/outputs/<job id>/``) instead. ``formats``:
    the job's own unless given (a diarized job adds ``rttm``).

    Raises:
        OSError: the outbox folder cannot be created.
        FileExistsError: a thousand name variants of one format are all taken.
    """
    directory = results_dir(settings, job)
    stem = safe_stem(job.original_name, job.id)
    formats = job.options.formats if formats is None else formats
    if directory is None:
        log.warning("job %s: the folder of %s is gone or not in the inbox; its results go to %s", job.id,
                    printable(job.inbox_path), settings.outputs_dir / job.id)
        return output_paths(settings.outputs_dir / job.id, stem, formats)
    paths: dict[str, Path] = {}
    for fmt in formats:
        path = next(free_names(directory, stem, f".{fmt}"), None)
        if path is None:
            raise FileExistsError(f"no free name for the {fmt} output of {job.original_name} in {directory}")
        paths[fmt] = path
    return paths


def existing_subtitle(directories: list[Path], stem: str, language: str) -> Path | None:
    """A subtitle file already in one of ``directories`` for the video ``stem`` in ``language``
    (two-letter code): ``<stem>.<tag>[.<flags>].<srt|vtt|ass|ssa|sub>`` where tag is the code or
    its three-letter forms (``en``, ``eng``) and flags such as ``sdh``, ``forced``, ``default``,
    any case; None when there is none (or the directory cannot be listed).
    """
    tags, prefix = tags_of(language), f"{stem}.".casefold()
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in sorted(names):
            folded = name.casefold()
            if not folded.startswith(prefix) or Path(folded).suffix not in SUBTITLE_SUFFIXES:
                continue
            parts = folded[len(prefix):].split(".")[:-1]  # the tags between the stem and the extension
            if parts and parts[0] in tags:
                return directory / name
    return None


def media_output_paths(settings: Settings, job: JobFile, formats: tuple[str, ...], language: str,
                       subtitles: bool = True) -> dict[str, Path]:
    """``{format: path}`` for an inbox job of a media-library folder: srt and vtt as
    ``<stem>.<language>.<format>`` in its results directory (left out when ``subtitles`` is False),
    every other format under the job's own outputs directory (``<home>/outputs/<job id>/``). When
    the source's folder is gone, every format goes to the outputs directory.

    Raises:
        OSError: the outbox folder cannot be created.
    """
    directory = results_dir(settings, job)
    stem = safe_stem(job.original_name, job.id)
    others = tuple(fmt for fmt in formats if directory is None or fmt not in SUBTITLE_FORMATS)
    paths = output_paths(settings.outputs_dir / job.id, stem, others)
    if directory is not None and subtitles:
        paths.update({fmt: directory / f"{stem}.{language}.{fmt}" for fmt in formats if fmt in SUBTITLE_FORMATS})
    return paths


def error_text(job: JobFile, message: str) -> str:
    """The content of an error file: what failed, why, and which job."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f"spoolscribe could not transcribe {job.original_name}\n\n{message}\n\n"
            f"job: {job.id}\nfailed at: {now}\n")


def write_error_file(settings: Settings, job: JobFile, message: str, runner: str) -> Path | None:
    """Leave ``<source name>.error.txt`` (or a distinct free name) with ``message`` in the results
    directory of an inbox job; return its path. Does nothing for other jobs (None).

    Never raises for a file problem: it is logged, and None returned (the job's error is stored
    on the job anyway).
    """
    if not is_inbox_job(job):
        return None
    data = error_text(job, message).encode("utf-8")
    # The stem keeps the source's extension ("talk.wav"), made safe and short like output stems.
    stem = safe_stem(f"{job.original_name}.error", job.id)
    try:
        directory = results_dir(settings, job)
        if directory is None:
            log.warning("runner %s: job %s: the folder of %s is gone or not in the inbox; no error file", runner,
                        job.id, printable(job.inbox_path))
            return None
        for path in free_names(directory, stem, ".error.txt"):
            try:
                atomic_write(path, data, overwrite=False)
            except FileExistsError:  # taken since it was found free: try the next name
                continue
            return path
    except OSError as exc:
        log.warning("runner %s: job %s: cannot write the error file next to %s: %s",
                    runner, job.id, printable(job.inbox_path), printable(exc))
        return None
    log.warning("runner %s: job %s: no free name for the error file of %s", runner, job.id,
                printable(job.inbox_path))
    return None
