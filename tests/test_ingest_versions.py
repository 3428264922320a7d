"""An inbox file keeps its identity across versions: a writer that appends in chunks, a file created
empty and filled later, a file replaced while its job runs, the same recording in two folders.
Fast: the quiet-period tracker, delivery with a real store and in-process runs of the jobs. Slow:
the ``spoolscribe ingest`` daemon and a runner process on real folders."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import DATA, job_bound, wait_for
from fakes import FakeRecognizer

from runner.core.schema import InboxFileStatus
from runner.ingest.delivery import Delivery, Outcome
from runner.ingest.folders import SETTINGS_FILE
from runner.ingest.stability import StabilityTracker

OUTPUTS = ("txt", "srt", "vtt", "json")


@pytest.fixture
def delivery(app) -> Delivery:
    return Delivery.for_settings(app.settings, app.store, app.spool)


def put(path: Path, source: Path | bytes) -> os.stat_result:
    """Write ``source`` (a file's bytes, or bytes) to ``path`` as a new version with a later mtime."""
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(source if isinstance(source, bytes) else source.read_bytes())
    info = os.stat(path)
    if info.st_mtime_ns <= before:  # a coarse clock: make the version visibly newer
        os.utime(path, ns=(info.st_atime_ns, before + 1_000_000))
    return os.stat(path)


def names(folder: Path) -> list[str]:
    """The names in ``folder``, sorted."""
    return sorted(path.name for path in folder.iterdir())


def listing(*names: str) -> list[str]:
    return sorted(names)


def plain(stem: str, formats=OUTPUTS) -> list[str]:
    return [f"{stem}.{fmt}" for fmt in formats]


# -- the quiet period ------------------------------------------------------------------------------------

def chunked_writer_takes(tracker: StabilityTracker, gaps: list[float], step: float = 0.1) -> list[float]:
    """Simulate a writer that opens, appends one chunk and closes, with ``gaps`` seconds between
    chunks (events as inotify gives them: a write, then a close), and a daemon that takes each due
    file whose stat confirms it; return the times at which the file was taken."""
    writes, at = [0.0], 0.0
    for gap in gaps:
        at += gap
        writes.append(at)
    taken: list[float] = []
    size, now, end = 0, 0.0, writes[-1] + tracker.quiet + 1.0
    while now <= end:
        if writes and writes[0] <= now + 1e-9:
            writes.pop(0)
            size += 1000
            tracker.observe("e.wav", (size, size, 1), now, written=True)
            tracker.observe("e.wav", (size, size, 1), now, closed=True)
        for path in tracker.due(now):
            if tracker.confirm(path, (size, size, 1), now):
                taken.append(round(now, 1))
        now = round(now + step, 1)
    return taken


def test_a_chunked_append_writer_is_taken_once_after_the_full_quiet_period():
    gaps = [1.0, 3.0, 4.0, 2.0, 1.0, 3.0, 4.0, 2.0, 1.0, 3.0]  # 1-4 s, as a recorder or a sync client writes
    taken = chunked_writer_takes(StabilityTracker(quiet=5.0, close_quiet=2.0), gaps)
    assert taken == [sum(gaps) + 5.0]  # the first close was followed by a change: the full quiet period


def test_only_a_files_first_close_shortens_its_quiet_period():
    # The first gap is longer than the close wait: that version is taken early (a writer that closes
    # once is done); after the next change the file waits the full period whatever closes say.
    gaps = [3.0, 3.0, 3.0, 3.0]
    taken = chunked_writer_takes(StabilityTracker(quiet=5.0, close_quiet=2.0), gaps)
    assert taken == [2.0, sum(gaps) + 5.0]
    tracker = StabilityTracker(quiet=5.0, close_quiet=2.0)
    tracker.observe("a", (1, 1, 1), 0.0, written=True)
    tracker.observe("a", (1, 1, 1), 0.0, closed=True)
    tracker.forget("a")  # deleted: a new file under that name starts afresh
    tracker.observe("a", (2, 2, 2), 10.0, written=True)
    tracker.observe("a", (2, 2, 2), 10.0, closed=True)
    assert tracker.due(12.0) == ["a"]


# -- versions of a file, delivered and run in this process -------------------------------------------------

def test_the_same_bytes_in_two_folders_each_get_their_own_results_with_their_own_settings(
        app, inbox, delivery, perform):
    (inbox / "subs").mkdir()
    (inbox / "subs" / SETTINGS_FILE).write_text('formats = ["srt"]\nlanguage = "de"\n', encoding="utf-8")
    first, second = inbox / "notes" / "talk.flac", inbox / "subs" / "talk.flac"
    results = [delivery.deliver(path, put(path, DATA / "jfk.flac")) for path in (first, second)]
    assert [result.outcome for result in results] == [Outcome.QUEUED, Outcome.QUEUED]
    for result in results:
        assert perform(result.job_id) == "succeeded"
    assert names(first.parent) == listing("talk.flac", *plain("talk"))
    assert names(second.parent) == listing(SETTINGS_FILE, "talk.flac", "talk.srt")
    assert app.store.get(results[1].job_id).language == "de"
    # Dropped again unchanged (a new mtime, the same bytes): no new job for either.
    again = delivery.deliver(first, put(first, DATA / "jfk.flac"))
    assert (again.outcome, again.job_id) == (Outcome.DUPLICATE, results[0].job_id)


def test_a_new_version_supersedes_the_earlier_jobs_and_its_results_take_the_plain_names(
        app, inbox, delivery, perform):
    path = inbox / "talk.wav"
    (inbox / "talk.srt").write_text("a person's own subtitles\n", encoding="utf-8")
    first = delivery.deliver(path, put(path, DATA / "sample.wav"))
    assert perform(first.job_id) == "succeeded"
    assert names(inbox) == ["talk.json", "talk.spoolscribe.srt", "talk.srt", "talk.txt", "talk.vtt", "talk.wav"]
    # Two newer versions before a runner comes: the second is withdrawn from the queue at once.
    second = delivery.deliver(path, put(path, DATA / "jfk.flac"))
    assert (second.outcome, second.superseded) == (Outcome.QUEUED, (first.job_id,))
    third = delivery.deliver(path, put(path, (DATA / "jfk.flac").read_bytes()[:150_000]))
    assert third.superseded == (second.job_id,)  # the first was superseded already
    withdrawn = app.store.get(second.job_id)
    assert withdrawn.status == "cancelled" and withdrawn.error.startswith("superseded: talk.wav changed")
    assert app.spool.pending() == [third.job_id]
    assert app.store.get(first.job_id).status == "succeeded"  # ended: its results give way when the third writes
    assert perform(third.job_id) == "succeeded"
    assert names(inbox) == ["talk.json", "talk.spoolscribe.srt", "talk.srt", "talk.txt", "talk.vtt", "talk.wav"]
    assert app.store.get(third.job_id).outputs == [str(inbox / name) for name in (
        "talk.txt", "talk.spoolscribe.srt", "talk.vtt", "talk.json")]
    assert app.store.get(first.job_id).outputs == []
    assert (inbox / "talk.srt").read_text(encoding="utf-8") == "a person's own subtitles\n"
    statuses = [row.status for row in ledger_rows(app, path)]
    assert statuses == ["superseded", "superseded", "queued"]


def ledger_rows(app, path: Path) -> list:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from runner.core.schema import InboxFile

    with Session(app.store.engine) as session:
        return list(session.scalars(select(InboxFile).where(InboxFile.path == str(path)).order_by(InboxFile.id)))


def test_a_file_changed_while_its_job_runs_cancels_it_and_only_the_new_version_has_results(
        app, inbox, delivery, perform):
    path = inbox / "meeting.wav"
    first = delivery.deliver(path, put(path, DATA / "sample.wav"))
    newer: list = []

    def replace_at_the_third(index: int) -> None:
        if index == 2:
            newer.append(delivery.deliver(path, put(path, DATA / "jfk.flac")))

    assert perform(first.job_id, engine=FakeRecognizer(before_segment=replace_at_the_third)) == "cancelled"
    cancelled = app.store.get(first.job_id)
    assert cancelled.status == "cancelled" and cancelled.outputs == []
    assert any("superseded" in warning for warning in cancelled.warnings)
    assert not (app.settings.outputs_dir / first.job_id).exists()  # no partial transcript kept anywhere
    assert names(inbox) == ["meeting.wav"]
    assert perform(newer[0].job_id) == "succeeded"
    assert names(inbox) == listing("meeting.wav", *plain("meeting"))
    text = (inbox / "meeting.txt").read_text()
    assert "alpha5" in text and "alpha6" not in text  # jfk.flac's 11 s (segments 0-5), not sample.wav's 30 s


def test_an_empty_file_waits_and_a_stale_error_file_goes_once_a_later_version_succeeds(
        app, inbox, delivery, perform):
    path = inbox / "memo.mp3"
    empty = delivery.deliver(path, put(path, b""))
    assert empty.outcome is Outcome.EMPTY and sum(app.store.counts().values()) == 0
    assert delivery.deliver(path, os.stat(path), force=True).outcome is Outcome.EMPTY  # never queued
    [row] = ledger_rows(app, path)
    assert (row.status, row.job_id, row.reason) == (
        InboxFileStatus.WAITING.value, None, "the file is empty: it is taken once it has content")
    broken = delivery.deliver(path, put(path, b"ID3 this is not really audio\n" * 10))
    assert perform(broken.job_id) == "failed"
    assert names(inbox) == ["memo.mp3", "memo.mp3.error.txt"]
    good = delivery.deliver(path, put(path, DATA / "jfk.flac"))
    assert good.outcome is Outcome.QUEUED and good.superseded == (broken.job_id,)
    assert perform(good.job_id) == "succeeded"
    assert names(inbox) == listing("memo.mp3", *plain("memo"))


def test_a_file_a_person_put_in_place_of_an_earlier_result_is_left_alone(app, inbox, delivery, perform):
    path = inbox / "talk.flac"
    first = delivery.deliver(path, put(path, DATA / "jfk.flac"))
    assert perform(first.job_id) == "succeeded"
    (inbox / "talk.txt").write_text("my corrected transcript\n", encoding="utf-8")  # edited by a person
    second = delivery.deliver(path, put(path, (DATA / "jfk.flac").read_bytes()[:150_000]))
    assert perform(second.job_id) == "succeeded"
    assert (inbox / "talk.txt").read_text(encoding="utf-8") == "my corrected transcript\n"
    assert names(inbox) == ["talk.flac", "talk.json", "talk.spoolscribe.txt", "talk.srt", "talk.txt", "talk.vtt"]


# -- with the daemons ------------------------------------------------------------------------------------

QUIET, CLOSE_QUIET = 5.0, 2.0
"""The defaults: a chunk gap of 1-4 s stays inside the quiet period."""


def inbox_jobs(app, path: Path) -> list:
    return sorted((job for job in app.store.list(limit=200) if job.inbox_path == str(path)), key=lambda j: j.id)


def ended(app, job_id: str) -> bool:
    return app.store.get(job_id).status in ("succeeded", "failed", "cancelled")


@pytest.mark.slow
def test_a_chunked_writer_an_empty_file_and_two_folders_with_the_daemon_and_a_runner(
        app, inbox, ingesters, runners, media):
    env = {"SPOOLSCRIBE_INBOX_QUIET": str(QUIET), "SPOOLSCRIBE_INBOX_CLOSE_QUIET": str(CLOSE_QUIET)}
    daemon = ingesters("ingest", extra_env=env)
    runner = runners("r1")
    wait_for(lambda: "watching" in daemon.log(), 30, what="the daemon to watch")
    (inbox / "subs").mkdir()
    (inbox / "subs" / SETTINGS_FILE).write_text('formats = ["srt"]\n', encoding="utf-8")
    shutil.copyfile(media / "jfk3.wav", inbox / "jfk3.wav")  # the same bytes in two folders
    shutil.copyfile(media / "jfk3.wav", inbox / "subs" / "jfk3.wav")
    (inbox / "never.wav").write_bytes(b"")  # left empty
    (inbox / "memo.wav").write_bytes(b"")  # created empty, filled 4 s later
    data = (DATA / "sample.wav").read_bytes()
    target, gaps = inbox / "e.wav", [1.0, 4.0, 2.0, 3.0, 1.0, 4.0]
    chunks = [data[i * len(data) // 7:(i + 1) * len(data) // 7] for i in range(7)]
    for number, chunk in enumerate(chunks):  # open, append, close: one chunk at a time
        with open(target, "ab") as handle:
            handle.write(chunk)
        if number == 2:  # 5 s after memo.wav was created
            shutil.copyfile(media / "jfk3.wav", inbox / "memo.wav")
        if number < len(gaps):
            time.sleep(gaps[number])
    bound = job_bound(app.settings, 30.0) + QUIET
    wait_for(lambda: (jobs := inbox_jobs(app, target)) and ended(app, jobs[-1].id), bound,
             what=f"the recording's job; log:\n{daemon.log()}")
    [recording] = inbox_jobs(app, target)  # the first gap is below the close wait: no early version
    assert recording.status == "succeeded", recording.error
    assert app.store.get(recording.id).duration == pytest.approx(30.0, abs=0.5)  # all of it, not its first chunk
    assert (inbox / "e.txt").stat().st_size > 200
    for path in (inbox / "memo.wav", inbox / "jfk3.wav", inbox / "subs" / "jfk3.wav"):
        jobs = wait_for(lambda p=path: inbox_jobs(app, p), 30, what=f"a job for {path}")
        wait_for(lambda j=jobs[-1].id: ended(app, j), job_bound(app.settings, 3.0), what=f"{path}'s job")
        assert [job.status for job in inbox_jobs(app, path)] == ["succeeded"]
    assert names(inbox) == sorted(["e.wav", *plain("e"), "jfk3.wav", *plain("jfk3"), "memo.wav",
                                   *plain("memo"), "never.wav", "subs"])
    assert names(inbox / "subs") == [SETTINGS_FILE, "jfk3.srt", "jfk3.wav"]
    assert inbox_jobs(app, inbox / "never.wav") == []
    assert "never.wav is empty; it is taken once it has content" in daemon.log()
    assert daemon.poll() is None and runner.poll() is None


@pytest.mark.slow
def test_a_file_replaced_while_its_job_runs_with_the_daemon_and_a_runner(app, inbox, ingesters, runners, media):
    daemon = ingesters("ingest", extra_env={"SPOOLSCRIBE_INBOX_QUIET": "1", "SPOOLSCRIBE_INBOX_CLOSE_QUIET": "1"})
    runner = runners("r1")
    wait_for(lambda: "watching" in daemon.log(), 30, what="the daemon to watch")
    target = inbox / "lecture.wav"
    shutil.copyfile(media / "long.wav", target)  # 180 s
    first = wait_for(lambda: inbox_jobs(app, target), 30, what=f"the first job; log:\n{daemon.log()}")[0]
    wait_for(lambda: app.store.get(first.id).processed_seconds > 0, job_bound(app.settings, 10.0),
             what=f"the first job to make progress; log:\n{runner.log_path.read_text()}")
    shutil.copyfile(media / "jfk3.wav", inbox / "replacement.tmp")
    os.replace(inbox / "replacement.tmp", target)  # replaced in one go, as editors and sync tools do
    wait_for(lambda: len(inbox_jobs(app, target)) == 2 and ended(app, inbox_jobs(app, target)[1].id),
             job_bound(app.settings, 3.0), what=f"the second job; log:\n{daemon.log()}")
    cancelled, newer = (app.store.get(job.id) for job in inbox_jobs(app, target))
    assert cancelled.status == "cancelled" and cancelled.error.startswith("superseded: lecture.wav changed")
    assert cancelled.outputs == [] and not (app.settings.outputs_dir / cancelled.id).exists()
    assert newer.status == "succeeded", newer.error
    assert names(inbox) == listing("lecture.wav", *plain("lecture"))
    assert "americans" in (inbox / "lecture.txt").read_text(encoding="utf-8").lower()
    assert f"supersedes job(s) {cancelled.id}" in daemon.log()


def test_the_daemon_logs_an_empty_file_once_and_remembers_it_across_a_restart(app, inbox, caplog):
    from runner.ingest.daemon import IngestDaemon

    path = inbox / "never.wav"
    info = put(path, b"")
    daemon = IngestDaemon(app.settings, app.store, app.spool, "t")
    with caplog.at_level("INFO"):
        daemon.take(path, info)
        assert not daemon.observe(str(path), os.stat(path))  # unchanged: not watched again
    assert caplog.text.count("never.wav is empty; it is taken once it has content") == 1
    restarted = IngestDaemon(app.settings, app.store, app.spool, "t")
    restarted.taken = restarted.delivery.ledger.latest_versions()
    assert not restarted.observe(str(path), os.stat(path))
    filled = put(path, DATA / "jfk.flac")
    assert restarted.observe(str(path), filled)
    restarted.take(path, filled)
    assert [job.inbox_path for job in app.store.list()] == [str(path)]
