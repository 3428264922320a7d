"""The job store's states and errors: a retry resets the job and its checkpoint in one transaction
(a failure injected into the database leaves both as they were), missing jobs raise ``JobNotFound``,
and statuses read back as ``JobStatus`` members that show as their plain strings."""

from __future__ import annotations

import json

import pytest
from conftest import DATA, both_stores
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from runner.core.errors import JobNotFound, JobStateError, SpoolscribeError
from runner.core.options import JobOptions
from runner.core.states import ACTIVE, ENDED, RETRYABLE, JobStatus
from runner.core.store import SegmentRow
from runner.jobs.submit import submit_path
from runner.jobs.view import job_to_dict

KEEP_SEGMENTS = {  # a trigger that refuses to delete segments, in each database's dialect
    "sqlite": ["CREATE TRIGGER keep_segments BEFORE DELETE ON segments "
               "BEGIN SELECT RAISE(ABORT, 'segments are kept'); END"],
    "postgresql": ["CREATE FUNCTION keep_segments() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "RAISE EXCEPTION 'segments are kept' USING ERRCODE = 'integrity_constraint_violation'; END $$",
                   "CREATE TRIGGER keep_segments BEFORE DELETE ON segments "
                   "FOR EACH ROW EXECUTE FUNCTION keep_segments()"],
}
DROP_KEEP_SEGMENTS = {"sqlite": "DROP TRIGGER keep_segments", "postgresql": "DROP TRIGGER keep_segments ON segments"}


def failed_with_checkpoint(app):
    """A job that failed after persisting two segments (its checkpoint)."""
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    assert app.spool.claim(job.id) and app.store.claim(job.id, "runner-a", 60)
    rows = [SegmentRow(i, float(i), i + 1.0, f"line {i}", []) for i in range(2)]
    assert app.store.record_progress(job.id, "runner-a", rows, processed_seconds=2.0, progress=0.2)
    assert app.store.finish(job.id, "runner-a", JobStatus.FAILED, error="decoder gave up")
    return app.store.get(job.id)


@both_stores
def test_a_retry_that_cannot_clear_the_checkpoint_changes_nothing(app):
    job = failed_with_checkpoint(app)
    dialect = app.store.engine.dialect.name
    with app.store.engine.begin() as connection:
        for statement in KEEP_SEGMENTS[dialect]:
            connection.execute(text(statement))

    with pytest.raises(IntegrityError, match="segments are kept"):
        app.store.requeue(job.id)

    after = app.store.get(job.id)
    assert (after.status, after.error, after.attempts, after.finished_at, after.processed_seconds) == \
        (JobStatus.FAILED, "decoder gave up", 1, job.finished_at, 2.0)
    assert [s.text for s in app.store.segments(job.id)] == ["line 0", "line 1"]

    with app.store.engine.begin() as connection:
        connection.execute(text(DROP_KEEP_SEGMENTS[dialect]))
    requeued = app.store.requeue(job.id)
    assert (requeued.status, requeued.error, requeued.attempts, requeued.finished_at) == \
        (JobStatus.QUEUED, None, 0, None)
    assert app.store.segments(job.id) == []


@both_stores
def test_a_refused_retry_keeps_the_checkpoint(app):
    job = failed_with_checkpoint(app)
    app.store.requeue(job.id)
    rows = [SegmentRow(0, 0.0, 1.0, "again", [])]
    assert app.store.claim(job.id, "runner-b", 60)
    assert app.store.record_progress(job.id, "runner-b", rows, processed_seconds=1.0)

    with pytest.raises(JobStateError, match="only a failed or cancelled job can be retried"):
        app.store.requeue(job.id)  # running: not retried, and its checkpoint stays
    assert [s.text for s in app.store.segments(job.id)] == ["again"]


@both_stores
def test_a_missing_job_raises_job_not_found(app):
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for change in (app.store.cancel, app.store.requeue, app.store.delete):
        with pytest.raises(JobNotFound) as raised:
            change(missing)
        assert raised.value.job_id == missing and isinstance(raised.value, SpoolscribeError)
        assert str(raised.value) == f"no job with id {missing}; it may have been deleted"


@both_stores
def test_statuses_read_back_as_members_and_show_as_plain_strings(app):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    stored = app.store.get(job.id)
    assert stored.status is JobStatus.QUEUED and stored.status in ACTIVE
    assert [j.id for j in app.store.list(status=JobStatus.QUEUED)] == [j.id for j in app.store.list(status="queued")] \
        == [job.id]
    assert list(app.store.counts()) == list(JobStatus) and app.store.counts()["queued"] == 1
    assert json.loads(json.dumps(job_to_dict(stored)))["status"] == "queued"
    assert f"{stored.status:<9}|" == "queued   |"
    with app.store.engine.connect() as connection:
        assert connection.execute(text("SELECT status FROM jobs")).scalar_one() == "queued"


def test_every_status_is_active_or_ended_and_only_ended_ones_are_retried():
    assert set(JobStatus) == ACTIVE | ENDED and not ACTIVE & ENDED
    assert RETRYABLE < ENDED and JobStatus.SUCCEEDED not in RETRYABLE
