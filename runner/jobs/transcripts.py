"""A succeeded job's transcript in the search index: its segments' versions, and (re)building the
index from the jobs' outputs (migration 0009, ``spoolscribe search --reindex``). The changes
themselves (edits, reverts, renames) are ``webui.rewrite``."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import JSON, Connection, insert, select, text
from sqlalchemy.orm import Session

from runner.core.schema import SegmentVersion, TranscriptSegment
from runner.core.states import JobStatus
from runner.core.store import JobStore, index_rows
from runner.core.transcript import Segment, TranscriptFileError, parse_transcript
from runner.jobs.outputs import OutputChangedError, open_recorded

log = logging.getLogger(__name__)


def current_versions(store: JobStore, job_id: str) -> dict[int, int]:
    """Each indexed segment's version (0: the model's text) of a job; empty when it is not indexed."""
    with Session(store.engine) as session:
        rows = session.execute(select(TranscriptSegment.index, TranscriptSegment.version)
                               .where(TranscriptSegment.job_id == job_id))
        return dict(rows.all())


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

    Only SQL on columns that exist since migration 0009 is used, so that migration can call it.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read or written.
    """
    jobs = connection.execute(text("SELECT id, outputs FROM jobs WHERE status = :status ORDER BY finished_at, id")
                              .columns(outputs=JSON), {"status": JobStatus.SUCCEEDED.value}).all()
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
            connection.execute(insert(TranscriptSegment), [
                {column: getattr(row, column) for column in
                 ("job_id", "index", "start", "end", "speaker", "text", "spaceless", "version")} for row in rows])
        count += len(rows)
    log.info("search index rebuilt: %d segments of %d jobs", count, len(jobs))
    return count


def _output_segments(connection: Connection, job_id: str, outputs: list[str] | None) -> tuple[Segment, ...]:
    """The segments of the job's JSON output if it is still the file written; empty otherwise."""
    names = outputs or []
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
