"""A job's files as the web serves them: its output files and its transcript lines (its media:
``runner.jobs.files.media_file``). Nothing outside the data root, the inbox or the outbox is ever read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner.core.schema import Job, JobSource
from runner.core.settings import Settings
from runner.core.store import JobStore
from runner.core.transcript import read_transcript
from runner.jobs.files import within


@dataclass(frozen=True)
class Line:
    """One transcript line: ``start``/``end`` in seconds from the start of the audio, its text,
    and its speaker when the job was diarized."""

    start: float
    end: float
    text: str
    speaker: str | None = None


def output_file(job: Job, fmt: str, settings: Settings) -> Path | None:
    """The job's output file of format ``fmt`` (``txt``, ``srt``, ``vtt``, ``json``), if it was
    written and still exists inside the data root, or, for an inbox job, the inbox or outbox."""
    roots = [settings.home]
    if job.source == JobSource.INBOX.value:
        roots += [root for root in (settings.inbox_dir, settings.outbox_dir) if root is not None]
    for name in job.outputs or []:
        path = Path(name)
        if path.suffix == f".{fmt}" and path.is_file() and any(within(path, root) for root in roots):
            return path
    return None


def transcript_lines(job: Job, settings: Settings, store: JobStore) -> list[Line]:
    """The job's transcript: the segments of its JSON output, or, without one (still running, or
    no ``json`` format asked for), the segments its runner has checkpointed so far.

    Raises:
        OSError: the JSON output exists but cannot be read.
        runner.core.transcript.TranscriptFileError: it is not a spoolscribe JSON transcript.
    """
    path = output_file(job, "json", settings)
    if path is None:
        return [Line(s.start, s.end, s.text) for s in store.segments(job.id)]
    transcript, _ = read_transcript(path)
    return [Line(s.start, s.end, s.text, s.speaker) for s in transcript.segments]

