"""Delivering stable inbox files into the spool, each version and each content once (real database,
real spool, real files; no daemon)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import DATA

from runner.core.fsutil import UnusableNameError
from runner.core.schema import InboxFileStatus, JobSource
from runner.core.settings import Settings
from runner.ingest.delivery import Delivered, Delivery, Outcome, sha256_file
from runner.ingest.folders import SETTINGS_FILE, FolderSettingsError
from runner.jobs.submit import submit_path


@pytest.fixture
def delivery(app) -> Delivery:
    return Delivery.for_settings(app.settings, app.store, app.spool)


def drop(inbox: Path, name: str, source: Path = DATA / "jfk.flac") -> tuple[Path, os.stat_result]:
    target = inbox / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target, os.stat(target)


def test_a_stable_file_becomes_a_queued_inbox_job_as_a_snapshot_and_untouched(app, inbox, delivery):
    path, before = drop(inbox, "会议 (二) talk.flac")
    result = delivery.deliver(path, before)
    assert result.outcome is Outcome.QUEUED
    job = app.store.get(result.job_id)
    assert (job.source, job.inbox_path, job.original_name, job.status) == (
        "inbox", str(path), "会议 (二) talk.flac", "queued")
    assert job.options["formats"] == list(app.settings.inbox_formats)
    media = app.spool.media_path(job.media_path)
    assert media.stat().st_ino != path.stat().st_ino and path.stat().st_nlink == 1  # a snapshot, not a link
    assert media.read_bytes() == path.read_bytes()
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert path.read_bytes() == (DATA / "jfk.flac").read_bytes()
    assert app.spool.pending() == [job.id]
    job_file = app.spool.read(app.spool.new / f"{job.id}.json")
    assert (job_file.source, job_file.inbox_path) == (JobSource.INBOX.value, str(path))


def test_a_file_on_another_filesystem_is_copied(app):
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        settings = Settings(home=app.settings.home, inbox=other)
        delivery = Delivery.for_settings(settings, app.store, app.spool)
        path, info = drop(Path(other), "talk.flac")
        assert os.stat(other).st_dev != app.spool.media.stat().st_dev
        job_id = delivery.deliver(path, info).job_id
        media = app.spool.media_path(app.store.get(job_id).media_path)
        assert media.stat().st_ino != path.stat().st_ino
        assert media.read_bytes() == path.read_bytes()


def test_the_same_version_or_the_same_content_at_the_same_path_is_not_queued_again_unless_forced(
        app, inbox, delivery):
    path, info = drop(inbox, "talk.flac")
    first = delivery.deliver(path, info)
    assert delivery.deliver(path, info) == Delivered(Outcome.KNOWN, first.job_id)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # dropped again: a new mtime
    again = delivery.deliver(path, os.stat(path))
    assert again == Delivered(Outcome.DUPLICATE, first.job_id)
    assert delivery.deliver(path, os.stat(path)).outcome is Outcome.KNOWN  # the duplicate was recorded
    copy, copy_info = drop(inbox, "sub/copy of talk.flac")  # another file with the same bytes: its own job
    copied = delivery.deliver(copy, copy_info)
    assert copied.outcome is Outcome.QUEUED and copied.superseded == ()
    forced = delivery.deliver(copy, copy_info, force=True)
    assert forced.outcome is Outcome.QUEUED and forced.superseded == (copied.job_id,)
    other, other_info = drop(inbox, "other.wav", DATA / "sample.wav")
    assert delivery.deliver(other, other_info).outcome is Outcome.QUEUED
    assert app.store.counts()["queued"] == 3 and app.store.counts()["cancelled"] == 1


def test_a_file_that_changed_while_it_was_read_is_not_taken(app, inbox, delivery):
    path, info = drop(inbox, "talk.flac")
    with open(path, "ab") as handle:
        handle.write(b"more")
    assert delivery.deliver(path, info).outcome is Outcome.CHANGED
    assert app.store.counts()["queued"] == 0


def test_folder_settings_go_on_the_job_and_a_broken_file_holds_files_back(app, inbox, delivery):
    (inbox / "de").mkdir()
    (inbox / "de" / SETTINGS_FILE).write_text('language = "de"\nformats = ["srt"]\n', encoding="utf-8")
    path, info = drop(inbox, "de/talk.flac")
    job = app.store.get(delivery.deliver(path, info).job_id)
    assert job.options["language"] == "de" and job.options["formats"] == ["srt"]
    (inbox / "de" / SETTINGS_FILE).write_text('language = "deutsch"\n', encoding="utf-8")
    other, other_info = drop(inbox, "de/other.wav", DATA / "sample.wav")
    with pytest.raises(FolderSettingsError):
        delivery.deliver(other, other_info)
    assert app.store.counts()["queued"] == 1


def test_unreadable_or_vanished_files_raise_and_leave_no_record(app, inbox, delivery):
    path, info = drop(inbox, "talk.flac")
    path.unlink()
    with pytest.raises(FileNotFoundError):
        delivery.deliver(path, info)
    assert delivery.ledger.latest_versions() == {}
    assert list(app.spool.media.iterdir()) == []


def test_a_name_that_is_not_utf8_is_skipped_once_naming_the_file_and_never_flaps(app, inbox, delivery, caplog):
    from runner.ingest.daemon import IngestDaemon

    bad, bad_info = drop(inbox, os.fsdecode(b"bad\xffname.wav"))
    with pytest.raises(UnusableNameError):
        delivery.deliver(bad, bad_info)
    assert delivery.ledger.latest_versions() == {} and list(app.spool.media.iterdir()) == []

    daemon = IngestDaemon(app.settings, app.store, app.spool, "t")
    fine, fine_info = drop(inbox, "fine.flac")
    with caplog.at_level("INFO", logger="runner.ingest.daemon"):
        daemon.take(bad, bad_info)
        daemon.take(fine, fine_info)
        assert not daemon.observe(str(bad), os.stat(bad))  # held: not taken again until it changes
    refusals = [record.getMessage() for record in caplog.records if "not valid UTF-8" in record.getMessage()]
    assert refusals == [f"ingest t: not taken: {inbox}/bad\\xffname.wav: its name is not valid UTF-8; rename it"]
    assert "cannot deliver" not in caplog.text and "works again" not in caplog.text
    assert [job.original_name for job in app.store.list()] == ["fine.flac"]


def test_sha256_is_of_the_whole_content(tmp_path):
    path = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_interrupted_deliveries_are_settled(app, inbox, delivery):
    ledger = delivery.ledger
    delivered, info = drop(inbox, "delivered.flac")
    lost, lost_info = drop(inbox, "lost.wav", DATA / "sample.wav")
    # A crash after the job was queued, and one before: both rows still say "delivering".
    ledger.add(str(delivered), info.st_size, info.st_mtime_ns, sha256_file(delivered), InboxFileStatus.DELIVERING)
    job = submit_path(app.store, app.spool, delivered, delivery.folders.options_for(delivered),
                      kind=JobSource.INBOX, inbox_path=str(delivered))
    ledger.add(str(lost), lost_info.st_size, lost_info.st_mtime_ns, sha256_file(lost), InboxFileStatus.DELIVERING)
    assert ledger.recover() == (1, 1)
    assert ledger.find(str(delivered), info.st_size, info.st_mtime_ns).job_id == job.id
    assert ledger.find(str(lost), lost_info.st_size, lost_info.st_mtime_ns) is None
    assert delivery.deliver(delivered, info).outcome is Outcome.KNOWN
    assert delivery.deliver(lost, lost_info).outcome is Outcome.QUEUED
    assert ledger.recover() == (0, 0)


def test_the_ledger_knows_the_newest_version_of_each_path(inbox, delivery):
    path, info = drop(inbox, "talk.flac")
    delivery.deliver(path, info)
    path.write_bytes((DATA / "sample.wav").read_bytes())
    newer = os.stat(path)
    delivery.deliver(path, newer)
    assert delivery.ledger.latest_versions() == {str(path): (newer.st_size, newer.st_mtime_ns)}

