"""Rewriting a succeeded job's transcript from the web: editing a segment's text, reverting to
the model's, renaming speakers.

Every change is one database transaction that holds the job (SQLite's write lock, taken at
``BEGIN IMMEDIATE``; a row lock elsewhere): the job's state and the segment's current text are
checked, every output is rendered again from the JSON output and written all or none
(``runner.output.writing.write_outputs``), and the search index's rows, the versions and the
outputs' identities are written before it commits. If writing an output fails, the transaction is
rolled back and the old outputs are left as they were. No torch, no faster-whisper.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runner.core.db import database_now, retry_when_busy, write_engine
from runner.core.errors import JobNotFound, JobStateError, SpoolscribeError
from runner.core.schema import Job, SegmentVersion, TranscriptSegment
from runner.core.search import is_spaceless
from runner.core.states import JobStatus
from runner.core.store import JobStore, replace_index
from runner.core.transcript import Transcript, read_transcript
from runner.jobs.outputs import record_outputs_in
from runner.output.edits import clean_text, with_text
from runner.output.relabel import with_names
from runner.output.writing import outputs_by_format, write_outputs

log = logging.getLogger(__name__)


class EditConflict(SpoolscribeError):
    """The segment changed since the editor read it: ``text`` and ``version`` are its current ones."""

    def __init__(self, job_id: str, index: int, current: str, version: int) -> None:
        super().__init__(f"segment {index} of job {job_id} was changed meanwhile (it is at version {version}); "
                         "start again from its current text")
        self.text, self.version = current, version


class UnknownVersionError(SpoolscribeError, ValueError):
    """An edit's ``base_version`` that the segment never had (above every version it has had): a
    mistake of the client, not an edit that came too late."""


@dataclass(frozen=True)
class SegmentState:
    """A segment's text as saved now and its version (0: the model's)."""

    index: int
    text: str
    version: int


Outputs = Callable[[Job], Iterable[Path]]
"""Given the job (held), the paths of its outputs that are still the files the service wrote: asked
only once the job is held, so that a rewrite that just ended is seen with its new files."""


@retry_when_busy
def _rewrite(store: JobStore, job_id: str, outputs: Outputs,
             change: Callable[[Session, Job, Transcript], Transcript | None]) -> None:
    """In one transaction holding job ``job_id``: find its outputs, read its JSON output, let ``change`` update rows
    and return the new transcript (None: nothing to write), write every output, record them.

    Raises:
        JobNotFound, JobStateError: no such job; it is not succeeded.
        FileNotFoundError: no JSON output among ``outputs``.
        TranscriptFileError: the JSON output is not a spoolscribe transcript.
        OSError: an output cannot be read or written (none is changed, nothing is committed).
        whatever ``change`` raises (nothing is committed).
    """
    with Session(write_engine(store.engine), expire_on_commit=False) as session, session.begin():
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise JobNotFound(job_id)
        if job.status != JobStatus.SUCCEEDED:
            raise JobStateError(f"job {job_id} is {job.status}; only a succeeded job's transcript can be changed")
        paths = outputs_by_format(outputs(job))
        transcript, metadata = read_transcript(paths["json"])
        changed = change(session, job, transcript)
        if changed is not None:
            write_outputs(changed, paths, metadata)
            record_outputs_in(session, job_id, paths.values())


def _rows(session: Session, job_id: str, transcript: Transcript) -> list[TranscriptSegment]:
    """The job's index rows in order; made again from ``transcript`` (its JSON output, the source
    of truth) when they do not match it (a job ended before it was indexed)."""
    query = select(TranscriptSegment).where(TranscriptSegment.job_id == job_id).order_by(TranscriptSegment.index)
    rows = list(session.scalars(query))
    if [row.text for row in rows] == [segment.text for segment in transcript.segments]:
        return rows
    log.warning("job %s: its search index did not match its JSON output; indexed again", job_id)
    edited = dict(session.execute(select(SegmentVersion.index, func.max(SegmentVersion.version)).where(
        SegmentVersion.job_id == job_id).group_by(SegmentVersion.index)).all())
    replace_index(session, job_id, transcript.segments, edited)
    session.flush()
    return list(session.scalars(query))


def edit_segment(store: JobStore, job_id: str, outputs: Outputs, index: int, value: str, *,
                 base_text: str | None = None, base_version: int | None = None,
                 by: str | None = None) -> SegmentState:
    """Save ``value`` as the text of segment ``index`` of a succeeded job whose output files are
    ``outputs``, if the segment is still as the editor read it (``base_text`` or ``base_version``,
    at least one given); every output is rendered again, the index updated, the edit kept as a
    version (by ``by``, a description of who, or None). Saving the current text changes nothing.

    Raises:
        EditConflict: the segment's text or version is no longer the one given.
        UnknownVersionError: ``base_version`` is above every version the segment has had.
        SegmentTextError: ``value`` cannot be a segment's text.
        IndexError: the job has no segment ``index``.
        JobNotFound, JobStateError, FileNotFoundError, TranscriptFileError, OSError: see ``_rewrite``.
    """
    if base_text is None and base_version is None:
        raise ValueError("send the version (base_version) or the text (base_text) the edit started from")
    cleaned = clean_text(value)
    saved: list[SegmentState] = []

    def change(session: Session, job: Job, transcript: Transcript) -> Transcript | None:
        rows = _rows(session, job_id, transcript)
        if not 0 <= index < len(rows):
            raise IndexError(f"job {job_id} has no segment {index} (it has {len(rows)})")
        row = rows[index]
        if base_version is not None and base_version > row.version and \
                base_version > (session.scalar(select(func.max(SegmentVersion.version)).where(
                    SegmentVersion.job_id == job_id, SegmentVersion.index == index)) or 0):
            raise UnknownVersionError(f"segment {index} of job {job_id} never had version {base_version} "
                                      f"(it is at version {row.version})")
        if (base_version is not None and base_version != row.version) or \
                (base_text is not None and " ".join(base_text.split()) != row.text):
            raise EditConflict(job_id, index, row.text, row.version)
        if cleaned == row.text:
            saved.append(SegmentState(index, row.text, row.version))
            return None
        now = database_now(session)
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


def revert_job(store: JobStore, job_id: str, outputs: Outputs, by: str | None = None) -> list[SegmentState]:
    """Give every edited segment of a succeeded job its model's text again (each a new version, by
    ``by``), rendering every output again; return the segments reverted (none: nothing written).

    Raises:
        JobNotFound, JobStateError, FileNotFoundError, TranscriptFileError, OSError: see ``_rewrite``.
    """
    reverted: list[SegmentState] = []

    def change(session: Session, _job: Job, transcript: Transcript) -> Transcript | None:
        rows = _rows(session, job_id, transcript)
        originals = dict(session.execute(select(SegmentVersion.index, SegmentVersion.text).where(
            SegmentVersion.job_id == job_id, SegmentVersion.version == 0)).all())
        segments, now = list(transcript.segments), database_now(session)
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


def rename_speakers(store: JobStore, job_id: str, outputs: Outputs, names: Mapping[str, str]) -> dict[str, str]:
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
