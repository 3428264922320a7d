"""Moving a single server's SQLite store into PostgreSQL when a second host joins
(``spoolscribe db copy``): every job, the inbox's ledger and the search index come along, so
nothing is transcribed twice and nothing is lost."""

from __future__ import annotations

import shutil
import time

import pytest
from conftest import DATA, wait_for
from sqlalchemy import func, select

from runner.core.db import make_engine
from runner.core.schema import Base, InboxFileStatus
from runner.core.search import search
from runner.core.states import JobStatus
from runner.core.store import JobStore
from runner.core.storecopy import StoreCopyError, copy_store
from runner.ingest.ledger import Ledger


def counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in Base.metadata.sorted_tables}


def test_every_table_is_copied_and_the_target_goes_on_from_there(app, submit, perform, postgres):
    job = submit(DATA / "jfk.flac")
    assert perform(job.id) == "succeeded"
    ledger = Ledger(app.store.engine)
    ledger.add("/inbox/talk.wav", 1000, 1, "ab" * 32, InboxFileStatus.QUEUED, job_id=job.id)
    target = make_engine(postgres.fresh_database())

    copied = copy_store(app.store.engine, target)

    assert copied == counts(app.store.engine) == counts(target)
    assert copied["jobs"] == 1 and copied["inbox_files"] == 1 and copied["transcript_segments"] > 0
    moved = JobStore(target).get(job.id)
    assert moved is not None and moved.status == JobStatus.SUCCEEDED and moved.outputs == app.store.get(job.id).outputs
    assert [hit.job_id for hit in search(target, "charlie3")] == [job.id]
    assert Ledger(target).newest("/inbox/talk.wav").job_id == job.id
    later = Ledger(target).add("/inbox/next.wav", 10, 2, "cd" * 32, InboxFileStatus.QUEUED)  # the sequence moved on
    assert later > Ledger(app.store.engine).newest("/inbox/talk.wav").id
    with pytest.raises(StoreCopyError, match="target store is not empty"):
        copy_store(app.store.engine, target)
    assert counts(target)["jobs"] == 1


@pytest.mark.slow
def test_after_the_copy_the_inbox_does_not_take_its_files_again(app, cli, ingesters, inbox, media, postgres):
    target = postgres.fresh_database()
    shutil.copyfile(media / "jfk3.wav", inbox / "jfk3.wav")
    quick = {"SPOOLSCRIBE_INBOX_QUIET": "1", "SPOOLSCRIBE_INBOX_CLOSE_QUIET": "1"}
    first = ingesters("before", extra_env=quick)
    wait_for(lambda: app.store.list(), 30, what="the inbox file's job on SQLite")
    first.terminate()
    first.wait(timeout=30)

    missing = cli("--database-url", target, "db", "copy", "--from", "sqlite:////nonexistent/spoolscribe.db")
    assert missing.returncode == 1 and "no SQLite store at /nonexistent/spoolscribe.db" in missing.stderr
    done = cli("--database-url", target, "db", "copy", "--from", app.settings.database_url)
    assert done.returncode == 0 and "copied 1 jobs" in done.stdout, done.stderr
    again = cli("--database-url", target, "db", "copy", "--from", app.settings.database_url)
    assert again.returncode == 1 and "target store is not empty" in again.stderr

    after = ingesters("after", extra_env={**quick, "SPOOLSCRIBE_DATABASE_URL": target})
    wait_for(lambda: "watching" in after.log(), 30, what="the inbox daemon on PostgreSQL")
    time.sleep(4)  # well past the quiet period and the first scan
    assert [job.inbox_path for job in JobStore(make_engine(target)).list()] == [str(inbox / "jfk3.wav")]
