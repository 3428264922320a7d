"""Results of an inbox job in a media-library folder (``naming = "media"``): subtitles named as
Jellyfin, Plex and Kodi pick them up, ``Movie (2020).en.srt``, beside the video; the other formats
under the job's outputs directory.

The language tag is the job's language, else the detected one, else (detection uncertain) the audio
track's tag (``runner.output.languages.subtitle_language``). The check runs when the outputs are
written, once the language is known: when a subtitle in that language is already beside the file
(``.srt``, ``.vtt``, ``.ass``, ... with that tag) or is a subtitle stream inside the container, no
subtitle is written. The job then still succeeds with its other formats, and says why in a
warning shown on its page; the file's inbox record is marked skipped with the reason. A name that
appears while the files are written is never replaced either (the same skip), and no other name
is made up.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from runner.core.settings import Settings
from runner.core.spool import JobFile
from runner.core.store import JobStore
from runner.core.transcript import Transcript
from runner.daemon.media import MediaError, StreamLanguages, stream_languages
from runner.jobs.inbox_skips import record_skip
from runner.output.inbox import (
    SUBTITLE_FORMATS,
    existing_subtitle,
    is_inbox_job,
    media_output_paths,
    results_dir,
)
from runner.output.languages import iso639_1, subtitle_language
from runner.output.naming import output_formats, safe_stem
from runner.output.writing import write_outputs

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_media_job(job: JobFile) -> bool:
    """True for an inbox job of a folder with media-library naming."""
    return job.options.naming == "media" and is_inbox_job(job)


def _skip_reason(settings: Settings, job: JobFile, streams: StreamLanguages, language: str) -> str | None:
    source = Path(job.inbox_path or "")
    stem = safe_stem(job.original_name, job.id)
    directories = [source.parent, *filter(None, [results_dir(settings, job)])]
    found = existing_subtitle(list(dict.fromkeys(directories)), stem, language)
    if found is not None:
        return f"a subtitle in this language is already beside the file: {_CONTROL.sub('?', found.name)}"
    if any(iso639_1(tag) == language for tag in streams.subtitles):
        return f"the file already holds a subtitle stream in this language ({language})"
    return None


def write_library_results(settings: Settings, store: JobStore, job: JobFile, media: Path, transcript: Transcript,
                          warnings: list[str], metadata: dict[str, Any]) -> list[Path]:
    """Write the outputs of media-library job ``job`` (its spooled media at ``media``, ``metadata``
    for the JSON); return their paths. A skip adds a warning to ``warnings`` and marks the inbox record.

    Raises:
        OSError: an output could not be written (the caller decides where they go instead).
    """
    formats = output_formats(job.options.formats, transcript)
    try:
        streams = stream_languages(media, job.options.audio_track)
    except MediaError:  # decoded a moment ago: gone or unreadable now, so nothing is known inside
        streams = StreamLanguages(None, ())
    language = subtitle_language(job.options.language, transcript.language, transcript.language_probability,
                                 streams.audio)
    wanted = any(fmt in SUBTITLE_FORMATS for fmt in formats)
    reason = None
    if wanted:
        reason = (_skip_reason(settings, job, streams, language) if language is not None else
                  "no language was given or detected (set language in the folder's .spoolscribe.toml)")
    paths = media_output_paths(settings, job, formats, language or "und", subtitles=wanted and reason is None)
    beside = {fmt: path for fmt, path in paths.items() if path.parent != settings.outputs_dir / job.id}
    written = write_outputs(transcript, {f: p for f, p in paths.items() if f not in beside}, metadata)
    try:
        written += write_outputs(transcript, beside, metadata, overwrite=False)
    except FileExistsError:
        reason = "a subtitle of the same name appeared beside the file while it was written"
    if reason is not None:
        warnings.append(f"subtitles skipped: {reason}; nothing was written beside it")
        record_skip(store.engine, job.id, reason)
        log.info("job %s: subtitles skipped (%s)", job.id, reason)
    return written

