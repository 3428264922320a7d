"""File safety, fast and in-process: reading without following links (runner.core.fsutil), spool
snapshots, what the inbox refuses, serving only the outputs the service wrote (the real Flask app),
results kept in the inbox, folder settings' models, and sweeping debris. Real files and a real
migrated database; the attacks on live processes are in test_file_safety_live.py."""

from __future__ import annotations

import os
import pwd
import re
import time
from pathlib import Path

import pytest
from conftest import DATA
from test_ingest_delivery import drop

from runner.core.fsutil import (
    UnsafeFileError,
    open_regular,
    same_version,
    snapshot,
    sweep_temporaries,
    temporary_name,
)
from runner.core.options import JobOptions
from runner.core.schema import JobSource, JobStatus
from runner.core.settings import Settings
from runner.core.transcript import Segment, Transcript, Turn
from runner.daemon.reaper import sweep_debris
from runner.ingest.delivery import Delivery, Outcome
from runner.ingest.folders import SETTINGS_FILE, FolderSettingsError
from runner.jobs.outputs import record_outputs
from runner.jobs.submit import submit_path
from runner.output.naming import output_paths
from runner.output.speakers import assign_speakers
from runner.output.writing import write_outputs

OTHER_UID = 12345  # a user who is neither the service user nor the owner of the inbox


@pytest.fixture
def delivery(app) -> Delivery:
    return Delivery.for_settings(app.settings, app.store, app.spool)


# -- runner.core.fsutil ---------------------------------------------------------------------------------

def test_open_regular_reads_a_regular_file_and_refuses_links_fifos_and_folders(tmp_path):
    real = tmp_path / "real.wav"
    real.write_bytes(b"audio")
    handle, info = open_regular(real)
    with handle:
        assert handle.read() == b"audio" and info.st_ino == real.stat().st_ino
    (tmp_path / "link.wav").symlink_to(real)
    os.mkfifo(tmp_path / "fifo.wav")  # nobody writes it: a blocking open would hang
    (tmp_path / "folder.wav").mkdir()
    started = time.monotonic()
    for name, reason in [("link.wav", "symbolic link"), ("fifo.wav", "not a regular file"),
                         ("folder.wav", "not a regular file")]:
        with pytest.raises(UnsafeFileError, match=reason) as caught:
            open_regular(tmp_path / name)
        assert caught.value.filename == str(tmp_path / name)
    assert time.monotonic() - started < 5
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing.wav")


@pytest.mark.parametrize("where", ["same filesystem", "other filesystem"])
def test_a_snapshot_never_changes_with_its_source(tmp_path, where):
    folder = tmp_path if where == "same filesystem" else Path(os.environ.get("SHM", "/dev/shm"))
    source = folder / f"source-{os.getpid()}.bin"
    data = os.urandom(3 * 1024 * 1024 + 5)
    source.write_bytes(data)
    target = tmp_path / "spool" / "copy.bin"
    target.parent.mkdir()
    try:
        with open(source, "rb") as handle:
            handle.seek(1000)  # a snapshot copies from the start whatever the offset
            snapshot(handle, target)
        assert target.read_bytes() == data
        assert source.stat().st_nlink == 1 and target.stat().st_ino != source.stat().st_ino
        with open(source, "r+b") as handle:  # rewritten in place, as cp or an editor does
            handle.write(b"v2" * 100)
        assert target.read_bytes() == data
        assert [p.name for p in target.parent.iterdir()] == ["copy.bin"]  # no temporary left
    finally:
        source.unlink()


def test_same_version_notices_a_rewrite(tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(b"one")
    before = os.stat(path)
    assert same_version(before, os.stat(path))
    with open(path, "r+b") as handle:
        handle.write(b"two")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the mtime put back
    assert not same_version(before, os.stat(path))  # ctime moved


def test_only_old_temporaries_of_ours_are_swept(tmp_path):
    def make(relative: str, uid: int | None = None) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        os.utime(path, (0, 0))  # an mtime set back counts for nothing: the age is the ctime's
        if uid is not None:
            os.chown(path, uid, -1)
        return path

    ours = [make(str(temporary_name(Path("talk.txt")))), make("sub/deeper/.talk.wav.error.txt.0a1b2c3d.tmp")]
    kept = [make("notes.tmp"), make(".notes.tmp"), make(".x.0a1b2c3g.tmp"), make("sub/.x.0A1B2C3D.tmp"),
            make("sub/.theirs.wav.0a1b2c3d.tmp", uid=OTHER_UID)]  # the pattern, but a user's file
    outside = make("../outside/.y.0a1b2c3d.tmp")
    (tmp_path / "linked").symlink_to(outside.parent)  # a link to a folder is not followed
    (tmp_path / ".z.0a1b2c3d.tmp").symlink_to(outside)  # a link named like ours is not removed
    time.sleep(1.2)
    young = make(".talk.vtt.0a1b2c3d.tmp")  # a writer may still be at it
    assert sweep_temporaries(tmp_path, 1.0, time.time()) == [ours[0]]
    assert sorted(sweep_temporaries(tmp_path, 1.0, time.time(), recursive=True)) == [ours[1]]
    assert all(path.exists() for path in [*kept, outside, young]) and (tmp_path / ".z.0a1b2c3d.tmp").is_symlink()


def test_the_reaper_sweeps_debris_in_the_spool_outputs_inbox_and_outbox(app, tmp_path):
    settings = Settings(home=app.settings.home, inbox_outbox=str(tmp_path / "out"), debris_grace=60)
    debris = [app.spool.media / ".01J00000000000000000000000.wav.0123abcd.tmp",
              app.spool.tmp / ".01J00000000000000000000000.json.89abcdef.tmp",
              settings.outputs_dir / "01J00000000000000000000000" / ".talk.srt.deadbeef.tmp",
              settings.inbox_dir / "team" / ".talk.txt.00ff00ff.tmp",
              settings.outbox_dir / "team" / ".talk.vtt.11223344.tmp"]
    users = [settings.inbox_dir / "team" / "talk.wav", settings.inbox_dir / "team" / "draft.tmp"]
    for path in [*debris, *users]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert sweep_debris(app.spool, settings, "r1") == []  # not old enough yet
    later = time.time() + 120
    assert sorted(sweep_debris(app.spool, settings, "r1", now=later)) == sorted(debris)
    assert all(path.exists() for path in users)
    assert sweep_debris(app.spool, settings, "r1", now=later) == []


# -- the inbox's delivery --------------------------------------------------------------------------------

def test_the_inbox_refuses_links_other_owners_and_second_hard_links(app, inbox, delivery, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs, _ = drop(elsewhere, "theirs.flac")
    os.chown(theirs, OTHER_UID, -1)
    os.link(theirs, inbox / "linked.flac")  # a hard link to another user's file
    os.symlink(theirs, inbox / "symlink.flac")
    own, _ = drop(inbox, "own.flac", DATA / "sample.wav")
    os.link(own, inbox / "second name.flac")  # even the folder owner's own file: two links
    placed, _ = drop(inbox, "placed.flac")
    os.chown(placed, OTHER_UID, -1)  # someone else's file, put into the folder
    os.mkfifo(inbox / "fifo.flac")
    reasons = {"linked.flac": "owned by user 12345", "symlink.flac": "symbolic link", "own.flac": "2 hard links",
               "second name.flac": "2 hard links", "placed.flac": "owned by user 12345",
               "fifo.flac": "not a regular file"}
    for name, reason in reasons.items():
        path = inbox / name
        with pytest.raises(UnsafeFileError, match=reason):
            delivery.deliver(path, os.stat(path, follow_symlinks=False))
    assert app.store.counts()["queued"] == 0 and list(app.spool.media.iterdir()) == []
    assert delivery.ledger.latest_versions() == {}
    (inbox / "second name.flac").unlink()
    assert delivery.deliver(own, os.stat(own)).outcome is Outcome.QUEUED  # one link again: taken


def test_files_of_a_folders_owner_and_of_the_shared_inboxs_group_are_taken(app, inbox, delivery):
    folder = inbox / "alice"
    folder.mkdir()
    path, _ = drop(folder, "talk.flac")
    os.chown(folder, OTHER_UID, -1)
    os.chown(path, OTHER_UID, -1)
    assert delivery.deliver(path, os.stat(path)).outcome is Outcome.QUEUED
    member = pwd.getpwnam("nobody")  # a real user; the inbox gets its primary group, as the systemd set-up
    shared, _ = drop(inbox, "shared.flac", DATA / "sample.wav")  # makes it with the spoolscribe group
    os.chown(shared, member.pw_uid, -1)
    with pytest.raises(UnsafeFileError, match="member of the group"):
        delivery.deliver(shared, os.stat(shared))  # the inbox is not shared with nobody's group yet
    os.chown(inbox, -1, member.pw_gid)
    inbox.chmod(0o2775)
    assert delivery.deliver(shared, os.stat(shared)).outcome is Outcome.QUEUED


def test_a_rewrite_in_place_after_queueing_is_a_new_job_and_the_first_keeps_its_snapshot(app, inbox, delivery):
    path, v1 = drop(inbox, "talk.wav", DATA / "sample.wav")
    first = delivery.deliver(path, v1)
    with open(path, "r+b") as handle:  # same inode, as `cp v2.wav talk.wav` or an editor's save
        handle.truncate(0)
        handle.write((DATA / "jfk.flac").read_bytes())
    v2 = os.stat(path)
    assert v2.st_ino == v1.st_ino
    job = app.store.get(first.job_id)
    assert app.spool.media_path(job.media_path).read_bytes() == (DATA / "sample.wav").read_bytes()
    second = delivery.deliver(path, v2)
    assert second.outcome is Outcome.QUEUED and second.job_id != first.job_id
    media = app.spool.media_path(app.store.get(second.job_id).media_path)
    assert media.read_bytes() == (DATA / "jfk.flac").read_bytes()


def test_folder_settings_may_choose_only_configured_models_and_are_never_read_through_a_link(app, inbox, tmp_path):
    settings = Settings(home=app.settings.home, model="base", web_models=("small",))
    delivery = Delivery.for_settings(settings, app.store, app.spool)
    folder = inbox / "team"
    folder.mkdir()
    path, _ = drop(folder, "talk.flac")
    for model in ["/etc", "../../models/evil", "medium", "Systran/faster-whisper-large-v3"]:
        (folder / SETTINGS_FILE).write_text(f'model = "{model}"\n', encoding="utf-8")
        with pytest.raises(FolderSettingsError, match="not one of the configured models"):
            delivery.folders.options_for(path)
    (folder / SETTINGS_FILE).write_text('model = "small"\n', encoding="utf-8")
    assert delivery.folders.options_for(path).model == "small"
    (folder / SETTINGS_FILE).unlink()
    secret = tmp_path / "secret.toml"
    secret.write_text('language = "de"\n', encoding="utf-8")
    (folder / SETTINGS_FILE).symlink_to(secret)
    with pytest.raises(FolderSettingsError, match="symbolic link"):
        delivery.folders.options_for(path)


# -- serving outputs (the real Flask app) ---------------------------------------------------------------

def test_an_output_replaced_by_a_link_or_another_file_is_never_served(app, inbox, ended_job, client):
    source, _ = drop(inbox, "w1.flac")
    job = ended_job(name="w1.flac", formats=("txt", "srt", "json"), inbox_source=source)
    txt, srt = inbox / "w1.txt", inbox / "w1.srt"
    assert client.get(f"/api/jobs/{job.id}/transcript.txt").get_data() == txt.read_bytes()
    assert f"/api/jobs/{job.id}/transcript.txt" in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    secret = app.settings.home / "web-secret-key"
    secret.write_text("the web's signing key\n")
    database = Path(app.settings.database_url.removeprefix("sqlite:///"))
    attacks = {"symlink to the key": lambda p: p.symlink_to(secret),
               "symlink to the database": lambda p: p.symlink_to(database),
               "hard link to the key": lambda p: os.link(secret, p),
               "another file": lambda p: p.write_text("not what the runner wrote\n")}
    for attack, replace in attacks.items():
        for path in (txt, srt):
            path.unlink()
            replace(path)
        answer = client.get(f"/api/jobs/{job.id}/transcript.txt")
        assert answer.status_code == 410, attack
        assert "replaced or changed" in answer.get_json()["error"] and b"signing key" not in answer.get_data()
        page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
        assert "signing key" not in page and f"/api/jobs/{job.id}/transcript.txt" not in page, attack
    assert client.get(f"/api/jobs/{job.id}/transcript.json").status_code == 200  # untouched: still served
    (inbox / "w1.json").unlink()
    assert client.get(f"/api/jobs/{job.id}/transcript.json").status_code == 404


def test_media_is_served_from_its_descriptor_with_ranges(app, client, upload):
    job_id = upload(DATA / "jfk.flac").get_json()["id"]
    whole = (DATA / "jfk.flac").read_bytes()
    answer = client.get(f"/api/jobs/{job_id}/media", headers={"Range": "bytes=10-19"})
    assert answer.status_code == 206 and answer.get_data() == whole[10:20]
    assert answer.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    assert client.get(f"/api/jobs/{job_id}/media").get_data() == whole
    media = app.spool.media_path(app.store.get(job_id).media_path)
    media.unlink()
    media.symlink_to(app.settings.home / "spoolscribe.db")
    assert client.get(f"/api/jobs/{job_id}/media").status_code == 404


def test_outputs_rewritten_by_a_speaker_rename_are_recorded_again_and_still_served(app, client):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions(formats=("txt", "json")),
                      kind=JobSource.CLI)
    assert app.spool.claim(job.id) and app.store.claim(job.id, "r1", 60)
    dialogue = assign_speakers(Transcript("en", 0.9, 4.0, (Segment(0.0, 1.5, "Hi."), Segment(2.5, 4.0, "Hello."))),
                               (Turn(0.0, 2.0, "SPEAKER_00"), Turn(2.0, 4.0, "SPEAKER_01")))
    paths = output_paths(app.settings.outputs_dir / job.id, "jfk", ("txt", "json"))
    written = write_outputs(dialogue, paths, {"job_id": job.id, "file": "jfk.flac", "model": "m", "options": {}})
    record_outputs(app.store.engine, job.id, written)
    assert app.store.finish(job.id, "r1", JobStatus.SUCCEEDED, outputs=[str(p) for p in written])
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/jobs/{job.id}").get_data(as_text=True))
    renamed = client.post(f"/api/jobs/{job.id}/speakers", json={"names": {"SPEAKER_01": "Sheila"}},
                          headers={"X-CSRF-Token": token.group(1)})
    assert renamed.status_code == 200 and renamed.get_json()["speakers"] == ["SPEAKER_00", "Sheila"]
    answer = client.get(f"/api/jobs/{job.id}/transcript.txt")
    assert answer.status_code == 200 and "[Sheila] Hello." in answer.get_data(as_text=True)
