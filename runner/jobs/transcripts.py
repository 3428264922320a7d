"""A succeeded job's transcript after its runner: editing a segment's text, reverting to the
model's, renaming speakers, and (re)building the search index.

Every change is one database transaction that holds the job (SQLite's write lock, taken at
``BEGIN IMMEDIATE``; a row lock elsewhere): the job's state and the segment's current text are
checked, every output is rendered again from the JSON output and written all or none
(``runner.output.writing.write_outputs``), and the index rows, the versions and the outputs'
identities are written before it commits. If writing an output fails, the transaction is rolled
back and the old outputs are left as they were. No torch, no faster-whisper: the web calls this.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from runner.core.db import retry_when_busy, write_engine
from runner.core.errors import JobNotFound, JobStateError, SpoolscribeError
from runner.core.schema import Job, SegmentVersion, TranscriptSegment
from runner.core.search import is_spaceless
from runner.core.states import JobStatus
from runner.core.store import JobStore, index_rows, utcnow
from runner.core.transcript import Segment, Transcript, TranscriptFileError, parse_transcript, read_transcript
from runner.jobs.outputs import OutputChangedError, open_recorded, record_outputs_in
from runner.output.formats import RENDERERS
from runner.output.relabel import with_names
from runner.output.writing import write_outputs

log = logging.getLogger(__name__)

MAX_SEGMENT_CHARS = 2000


class EditConflict(SpoolscribeError):
    """The segment changed since the editor read it: ``text`` and ``version`` are its current ones."""

    def __init__(self, job_id: str, index: int, current: str, version: int) -> None:
        super().__init__(f"segment {index} of job {job_id} was changed meanwhile (it is at version {version}); "
                         "start again from its current text")
        self.text, self.version = current, version


class SegmentTextError(SpoolscribeError, ValueError):
    """Text that cannot be a segment's (empty, too long, control characters); the message says which."""


@dataclass(frozen=True)
class SegmentState:
    """A segment's text as saved now and its version (0: the model's)."""

    index: int
    text: str
    version: int


def clean_text(value: str) -> str:
    """A segment's new text: spaces (line breaks included) collapsed to one, stripped.

    Raises:
        SegmentTextError: empty, longer than ``MAX_SEGMENT_CHARS``, or with control characters.
    """
    cleaned = " ".join(value.split())
    if not cleaned:
        raise SegmentTextError("the text is empty; a segment needs some text")
    if len(cleaned) > MAX_SEGMENT_CHARS:
        raise SegmentTextError(f"the text is longer than {MAX_SEGMENT_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in cleaned):
        raise SegmentTextError("the text contains control characters")
    return cleaned


def with_text(segment: Segment, value: str) -> Segment:
    """``segment`` saying ``value``, times and speaker kept. When ``value`` has as many words as
    the segment has timed words, each word takes the new spelling with its times (so subtitles
    keep word timing); otherwise the words are kept as the model gave them, and cues are timed by
    characters (``runner.output.cues``)."""
    spellings = value.split()
    if len(spellings) != len(segment.words):
        return dataclasses.replace(segment, text=value)
    words = tuple(dataclasses.replace(word, word=" " + spelling) for word, spelling in zip(segment.words, spellings,
                                                                                             strict=True))
    return dataclasses.replace(segment, text=value, words=words)


def _json_path(paths: Iterable[Path]) -> dict[str, Path]:
    found = {path.suffix[1:]: path for path in map(Path, paths) if path.suffix[1:] in RENDERERS}
    if "json" not in found:
        raise FileNotFoundError("the job has no json output, which its other outputs are made from")
    return found


@retry_when_busy
def _rewrite(store: JobStore, job_id: str, outputs: Iterable[Path],
             change: Callable[[Session, Job, Transcript], Transcript | None]) -> None:
    """In one transaction holding job ``job_id``: read its JSON output, let ``change`` update rows
    and return the new transcript (None: nothing to write), write every output, record them.

    Raises:
        JobNotFound, JobStateError: no such job; it is not succeeded.
        FileNotFoundError: no JSON output among ``outputs``.
        TranscriptFileError: the JSON output is not a spoolscribe transcript.
        OSError: an output cannot be read or written (none is changed, nothing is committed).
        whatever ``change`` raises (nothing is committed).
    """
    paths = _json_path(outputs)
    with Session(write_engine(store.engine), expire_on_commit=False) as session, session.begin():
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise JobNotFound(job_id)
        if job.status != JobStatus.SUCCEEDED:
            raise JobStateError(f"job {job_id} is {job.status}; only a succeeded job's transcript can be changed")
        transcript, metadata = read_transcript(paths["json"])
        changed = change(session, job, transcript)
        if changed is not None:
            write_outputs(changed, paths, metadata)
            record_outputs_in(session, job_id, paths.values())


def _rows(session: Session, job_id: str, transcript: Transcript) -> list[TranscriptSegment]:
    rows = list(session.scalars(select(TranscriptSegment).where(TranscriptSegment.job_id == job_id)
                                .order_by(TranscriptSegment.index)))
    if len(rows) != len(transcript.segments):
        raise JobStateError(f"the search index of job {job_id} does not match its JSON output; "
                            "run `spoolscribe search --reindex`")
    return rows


def edit_segment(store: JobStore, job_id: str, outputs: Iterable[Path], index: int, value: str, *,
                 base_text: str | None = None, base_version: int | None = None,
                 by: str | None = None) -> SegmentState:
    """Save ``value`` as the text of segment ``index`` of a succeeded job whose output files are
    ``outputs``, if the segment is still as the editor read it (``base_text`` or ``base_version``,
    at least one given); every output is rendered again, the index updated, the edit kept as a
    version (by ``by``, a description of who, or None). Saving the current text changes nothing.

    Raises:
        EditConflict: the segment's text or version is no longer the one given.
        SegmentTextError: ``value`` cannot be a segment's text.
        IndexError: the job has no segment ``index``.
        JobNotFound, JobStateError, FileNotFoundError, TranscriptFileError, OSError: see ``_rewrite``.
    """
    if base_text is None and base_version is None:
        raise ValueError("give the text or the version the edit started from")
    cleaned = clean_text(value)
    saved: list[SegmentState] = []

    def change(session: Session, job: Job, transcript: Transcript) -> Transcript | None:
        rows = _rows(session, job_id, transcript)
        if not 0 <= index < len(rows):
            raise IndexError(f"job {job_id} has no segment {index} (it has {len(rows)})")
        row = rows[index]
        if (base_version is not None and base_version != row.version) or \
                (base_text is not None and " ".join(base_text.split()) != row.text):
            raise EditConflict(job_id, index, row.text, row.version)
        if cleaned == row.text:
            saved.append(SegmentState(index, row.text, row.version))
            return None
        now = utcnow()
        if row.version == 0:
            session.add(SegmentVersion(job_id=job_id, index=index, version=0, text=row.text,
                                       edited_at=job.finished_at or now, edited_by=None))
        row.text, row.spaceless, row.version = cleaned, is_spaceless(cleaned), row.version + 1
        session.add(SegmentVersion(job_id=job_id, index=index, version=row.version, text=cleaned,
                                   edited_at=now, edited_by=by))
        saved.append(SegmentState(index, cleaned, row.version))
        segments = list(transcript.segments)
        segments[index] = with_text(segments[index], cleaned)
        return dataclasses.replace(transcript, segments=tuple(segments))

    _rewrite(store, job_id, outputs, change)
    log.info("job %s: segment %d edited (version %d)", job_id, index, saved[0].version)
    return saved[0]


def revert_job(store: JobStore, job_id: str, outputs: Iterable[Path], by: str | None = None) -> list[SegmentState]:
    """Give every edited segment of a succeeded job its model's text again (each a new version, by
    ``by``), rendering every output again; return the segments reverted (none: nothing written).

    Raises:
        JobNotFound, JobStateError, FileNotFoundError, TranscriptFileError, OSError: see ``_rewrite``.
    """
    reverted: list[SegmentState] = []

    def change(session: Session, _job: Job, transcript: Transcript) -> Transcript | None:
        rows = _rows(session, job_id, transcript)
        originals = dict(session.execute(select(SegmentVersion.index, SegmentVersion.text).where(
            SegmentVersion.job_id == job_id, SegmentVersion.version == 0)).tuples().all())
        segments, now = list(transcript.segments), utcnow()
        for row in rows:
            original = originals.get(row.index)
            if original is None or original == row.text:
                continue
            row.text, row.spaceless, row.version = original, is_spaceless(original), row.version + 1
            session.add(SegmentVersion(job_id=job_id, index=row.index, version=row.version, text=original,
                                       edited_at=now, edited_by=by))
            segments[row.index] = with_text(segments[row.index], original)
            reverted.append(SegmentState(row.index, original, row.version))
        return dataclasses.replace(transcript, segments=tuple(segments)) if reverted else None

    _rewrite(store, job_id, outputs, change)
    log.info("job %s: %d segments reverted to the model's text", job_id, len(reverted))
    return reverted


def rename_speakers(store: JobStore, job_id: str, outputs: Iterable[Path], names: Mapping[str, str]) -> dict[str, str]:
    """Rename speakers in a succeeded job's outputs and index: ``names`` maps a current speaker
    (a ``SPEAKER_NN`` label or a name given before) to its new name; every output is rendered
    again from the JSON output, all or none. Returns the renames applied (empty and unchanged
    names left out; nothing written when none is left).

    Raises:
        runner.output.speakers.SpeakerNameError: an unknown speaker or an unusable name.
        JobNotFound, JobStateError, FileNotFoundError, TranscriptFileError, OSError: see ``_rewrite``.
    """
    applied: dict[str, str] = {}

    def change(session: Session, _job: Job, transcript: Transcript) -> Transcript | None:
        renamed, renames = with_names(transcript, names)
        applied.update(renames)
        if renamed is None:
            return None
        for row in _rows(session, job_id, transcript):
            row.speaker = renamed.segments[row.index].speaker
        return renamed

    _rewrite(store, job_id, outputs, change)
    return applied


def versions(store: JobStore, job_id: str, index: int) -> list[SegmentVersion]:
    """The saved versions of segment ``index`` of a job, oldest first (empty: never edited)."""
    with Session(store.engine) as session:
        return list(session.scalars(select(SegmentVersion).where(
            SegmentVersion.job_id == job_id, SegmentVersion.index == index).order_by(SegmentVersion.version)))


def rebuild_index(connection: Connection) -> int:
    """Build the search index again from scratch, in the caller's transaction: for each succeeded
    job (in the order they finished, so newest-first search stays so), the segments of its JSON
    output if it is still the file written, else its checkpointed segments; edited segments keep
    their version number. Returns the number of segments indexed.

    Only SQL on columns that exist since migration 0010 is used, so that migration can call it.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read or written.
    """
    jobs = connection.execute(text("SELECT id, outputs FROM jobs WHERE status = :status ORDER BY finished_at, id"),
                              {"status": JobStatus.SUCCEEDED.value}).all()
    edited: dict[str, dict[int, int]] = {}
    for job_id, number, version in connection.execute(text(
            'SELECT job_id, "index", MAX(version) FROM segment_versions GROUP BY job_id, "index"')):
        edited.setdefault(job_id, {})[number] = version
    connection.execute(text("DELETE FROM transcript_segments"))
    count = 0
    for job_id, outputs in jobs:
        segments = _output_segments(connection, job_id, outputs) or _checkpoint(connection, job_id)
        rows = index_rows(job_id, segments, edited.get(job_id))
        if rows:
            connection.execute(TranscriptSegment.__table__.insert(), [
                {column: getattr(row, column) for column in
                 ("job_id", "index", "start", "end", "speaker", "text", "spaceless", "version")} for row in rows])
        count += len(rows)
    log.info("search index rebuilt: %d segments of %d jobs", count, len(jobs))
    return count


def _output_segments(connection: Connection, job_id: str, outputs: str | list | None) -> tuple[Segment, ...]:
    """The segments of the job's JSON output if it is still the file written; empty otherwise."""
    names = json.loads(outputs) if isinstance(outputs, str) else outputs or []
    path = next((Path(name) for name in names if Path(name).suffix == ".json"), None)
    if path is None:
        return ()
    try:
        handle = open_recorded(connection, job_id, path)
        if handle is None:
            return ()
        with handle:
            return parse_transcript(handle.read(), path.name)[0].segments
    except (OSError, OutputChangedError, TranscriptFileError) as exc:
        log.warning("job %s: indexing its checkpoint instead of %s (%s)", job_id, path, exc)
        return ()


def _checkpoint(connection: Connection, job_id: str) -> tuple[Segment, ...]:
    rows = connection.execute(text('SELECT start, "end", text FROM segments WHERE job_id = :job ORDER BY "index"'),
                              {"job": job_id})
    return tuple(Segment(start, end, value) for start, end, value in rows)
