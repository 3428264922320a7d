"""``spoolscribe ingest`` as a process on real folders: complete files only, each exactly once,
results beside them, per-folder settings, and a daemon that survives its inbox and its files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import jiwer
import pytest
from conftest import DATA, job_bound, wait_for
from whisper_normalizer.english import EnglishTextNormalizer

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


QUICK = {"SPOOLSCRIBE_INBOX_QUIET": "1", "SPOOLSCRIBE_INBOX_CLOSE_QUIET": "1", "SPOOLSCRIBE_INBOX_POLL_INTERVAL": "0.5"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def inbox_jobs(app) -> dict[str, object]:
    """The jobs made from inbox files, by the file's path relative to the inbox."""
    inbox = app.settings.inbox_dir
    return {str(Path(job.inbox_path).relative_to(inbox)): job for job in app.store.list(limit=2000)
            if job.source == "inbox"}


def wait_with_log(process, predicate, timeout: float, what: str):
    """``wait_for``, with the process's log as it is at the end in the failure message."""
    try:
        return wait_for(predicate, timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; log of the process:\n{process.log_path.read_text()}") from None


def wait_for_jobs(app, daemon, count: int, timeout: float = 30) -> dict[str, object]:
    return wait_with_log(daemon, lambda: len(inbox_jobs(app)) >= count and inbox_jobs(app), timeout,
                         f"{count} inbox job(s)")


def wait_for_log(daemon, text: str, count: int = 1, timeout: float = 30) -> None:
    wait_with_log(daemon, lambda: daemon.log().count(text) >= count, timeout, f"{text!r} x{count} in the log")


def wait_for_end(app, job_id: str, runner):
    """The job once it has succeeded or failed (waiting at most ``job_bound`` for its audio)."""
    timeout = job_bound(app.settings, app.store.get(job_id).duration or 30.0)  # 30 s: sample.wav, the longest here
    return wait_with_log(runner, lambda: (job := app.store.get(job_id)).status in ("succeeded", "failed") and job,
                         timeout, f"job {job_id} to end")


def start_quick(ingesters, *args: str, name: str = "ingest", **extra: str):
    daemon = ingesters(name, *args, extra_env={**QUICK, **extra})
    wait_for_log(daemon, "watching", timeout=30)
    return daemon


def test_a_recording_written_slowly_becomes_one_job_after_the_write_with_a_transcript(app, inbox, ingesters, runners):
    quiet = 2.0
    daemon = ingesters("ingest", extra_env={"SPOOLSCRIBE_INBOX_QUIET": str(quiet)})
    runner = runners("r1")  # loads the model while the file is written
    wait_for_log(daemon, "watching")
    data = (DATA / "sample.wav").read_bytes()
    chunks = [data[i:i + len(data) // 40 + 1] for i in range(0, len(data), len(data) // 40 + 1)]
    target = inbox / "meeting recording.wav"
    with open(target, "wb") as handle:  # 41 writes over about 12 s, with one pause of 1.5 s
        for number, chunk in enumerate(chunks):
            if number:
                time.sleep(1.5 if number == 20 else 0.27)
            assert inbox_jobs(app) == {}, f"picked up after {number} of {len(chunks)} writes"
            handle.write(chunk)
            handle.flush()
            written = utcnow()
    job = wait_for_jobs(app, daemon, 1)["meeting recording.wav"]
    assert (job.created_at - written).total_seconds() >= quiet - 0.2
    done = wait_for_end(app, job.id, runner)
    assert done.status == "succeeded", done.error
    reference = " ".join(line.split(maxsplit=5)[5] for line in (DATA / "sample.stm").read_text().splitlines())
    normalise = EnglishTextNormalizer()
    transcript = (inbox / "meeting recording.txt").read_text(encoding="utf-8")
    assert jiwer.wer(normalise(reference), normalise(transcript)) <= 0.25
    assert len(inbox_jobs(app)) == 1 and daemon.log().count("queued for") == 1


def test_names_with_spaces_unicode_parentheses_and_a_leading_dash(app, inbox, ingesters, runners, media):
    names = {"-Réunion (finale) 1.wav": media / "jfk3.wav", "会议 记录 (二).flac": DATA / "jfk.flac"}
    daemon = start_quick(ingesters)
    runner = runners("r1")
    for name, source in names.items():
        shutil.copyfile(source, inbox / name)
    jobs = wait_for_jobs(app, daemon, 2)
    assert set(jobs) == set(names)
    for name, job in jobs.items():
        done = wait_for_end(app, job.id, runner)
        assert done.status == "succeeded", done.error
        stem = name.rsplit(".", 1)[0]
        assert done.outputs == [str(inbox / f"{stem}.{fmt}") for fmt in ("txt", "srt", "vtt", "json")]
        assert "americans" in (inbox / f"{stem}.txt").read_text(encoding="utf-8").lower()


@pytest.mark.parametrize("mode", ["inotify", "polling"])
def test_each_file_once_moved_in_files_too_and_temporary_files_ignored(app, inbox, ingesters, media, tmp_path, mode):
    daemon = start_quick(ingesters, **({"SPOOLSCRIBE_INBOX_POLLING": "1"} if mode == "polling" else {}))
    assert f"({mode})" in daemon.log()
    shutil.copyfile(media / "jfk3.wav", inbox / "talk.wav")
    first = wait_for_jobs(app, daemon, 1)["talk.wav"]
    # The same file dropped again (a new mtime): no new job. The same bytes under another name: a
    # file of its own, with its own job.
    shutil.copyfile(media / "jfk3.wav", inbox / "talk.wav")
    (inbox / "again").mkdir()
    shutil.copyfile(media / "jfk3.wav", inbox / "again" / "talk copy.wav")
    wait_for_log(daemon, f"job {first.id} already has the content")
    # Moved in with mv; a dotfile; a .part file renamed when its copy is complete; a file that
    # vanishes while it is being copied.
    outside = tmp_path / "outside.flac"
    shutil.copyfile(DATA / "jfk.flac", outside)
    os.rename(outside, inbox / "moved.flac")
    shutil.copyfile(media / "silence.wav", inbox / ".hidden.wav")
    with open(inbox / "big.wav.part", "wb") as handle:
        handle.write((DATA / "sample.wav").read_bytes())
    with open(inbox / "gone.wav", "wb") as handle:
        handle.write(b"RIFF....WAVE")
    (inbox / "gone.wav").unlink()
    time.sleep(2.0)  # two quiet periods: the .part file is complete but must not be taken
    assert set(inbox_jobs(app)) == {"talk.wav", "again/talk copy.wav", "moved.flac"}
    os.rename(inbox / "big.wav.part", inbox / "big.wav")
    jobs = wait_for_jobs(app, daemon, 4)
    assert set(jobs) == {"talk.wav", "again/talk copy.wav", "moved.flac", "big.wav"}
    time.sleep(2.0)
    assert len(inbox_jobs(app)) == 4 and daemon.log().count("queued for") == 4
    assert daemon.poll() is None
    for job in jobs.values():
        assert (job.source, job.status) == ("inbox", "queued")


def test_forcing_queues_a_file_taken_before(app, inbox, ingesters, cli, media):
    daemon = start_quick(ingesters)
    shutil.copyfile(media / "jfk3.wav", inbox / "talk.wav")
    first = wait_for_jobs(app, daemon, 1)["talk.wav"]
    forced = cli("ingest", "--force", str(inbox / "talk.wav"), timeout=60)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip() != first.id and app.store.get(forced.stdout.strip()).inbox_path == first.inbox_path
    outside = cli("ingest", "--force", str(DATA / "jfk.flac"), timeout=60)
    assert outside.returncode == 2 and "is not in the inbox" in outside.stderr
    (inbox / "empty.wav").write_bytes(b"")
    empty = cli("ingest", "--force", str(inbox / "empty.wav"), timeout=60)
    assert empty.returncode == 1 and "empty.wav is empty; an empty file is never queued" in empty.stderr
    second = cli("ingest", timeout=60)
    assert second.returncode == 1 and "another spoolscribe ingest is running" in second.stderr
    time.sleep(1.5)
    assert len(app.store.list()) == 2  # the daemon does not take the forced file a third time


def test_the_inbox_removed_and_created_again_is_survived(app, tmp_path, ingesters, media):
    share = tmp_path / "share" / "inbox"
    share.mkdir(parents=True)
    daemon = start_quick(ingesters, "--inbox", str(share))
    shutil.rmtree(share)
    wait_for_log(daemon, "is not available")
    time.sleep(3)  # three health checks
    assert daemon.log().count("is not available") == 1
    share.mkdir()
    wait_for_log(daemon, "is back")
    wait_for_log(daemon, "watching", count=2)
    (share / "late").mkdir()
    shutil.copyfile(media / "jfk3.wav", share / "late" / "after.wav")
    job = wait_with_log(daemon, lambda: app.store.list(), 30, "a job")[0]
    assert job.inbox_path == str(share / "late" / "after.wav")
    # Replaced in one go (no second without it): still watched.
    os.rename(share, tmp_path / "share" / "old")
    replacement = tmp_path / "share" / "new"
    replacement.mkdir()
    shutil.copyfile(DATA / "jfk.flac", replacement / "replaced.flac")
    os.rename(replacement, share)
    wait_with_log(daemon, lambda: len(app.store.list()) == 2, 30, "a second job")
    daemon.terminate()
    assert daemon.wait(timeout=15) == 0
    assert "stopped" in daemon.log()


def test_folder_settings_apply_only_below_their_folder(app, inbox, ingesters, media):
    (inbox / "mandarin" / "deep").mkdir(parents=True)
    (inbox / "mandarin" / ".spoolscribe.toml").write_text(
        'language = "zh"\nformats = ["txt", "srt"]\nprompt = "以下是普通话的句子。"\n', encoding="utf-8")
    (inbox / "broken").mkdir()
    (inbox / "broken" / ".spoolscribe.toml").write_text('language = "mandarin"\n', encoding="utf-8")
    daemon = start_quick(ingesters, SPOOLSCRIBE_INBOX_FORMATS="txt,json")
    files = {"top.wav": media / "jfk3.wav", "mandarin/deep/a.wav": DATA / "sample.wav",
             "mandarin-not/b.flac": DATA / "jfk.flac", "broken/c.wav": media / "silence.wav"}
    for name, source in files.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, inbox / name)
    jobs = wait_for_jobs(app, daemon, 3)
    wait_for_log(daemon, "broken/.spoolscribe.toml: unknown language")
    assert set(jobs) == {"top.wav", "mandarin/deep/a.wav", "mandarin-not/b.flac"}
    mandarin = jobs["mandarin/deep/a.wav"].options
    assert (mandarin["language"], mandarin["formats"], mandarin["initial_prompt"]) == (
        "zh", ["txt", "srt"], "以下是普通话的句子。")
    for name in ("top.wav", "mandarin-not/b.flac"):
        options = jobs[name].options
        assert (options["language"], options["formats"], options["initial_prompt"]) == (None, ["txt", "json"], None)
    time.sleep(2.5)
    assert daemon.log().count("unknown language") == 1  # logged once, not at every look
    (inbox / "broken" / ".spoolscribe.toml").write_text('language = "de"\n', encoding="utf-8")
    fixed = wait_for_jobs(app, daemon, 4)["broken/c.wav"]
    assert fixed.options["language"] == "de"


def unshare_available() -> bool:
    return subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True).returncode == 0


def in_user_namespace(limit: str, value: int) -> tuple[str, ...]:
    """A wrapper that runs the daemon in a new user namespace whose inotify ``limit`` is ``value``."""
    script = f'echo {value} > /proc/sys/user/{limit} && exec "$@"'
    return ("unshare", "-U", "-r", "sh", "-c", script, "sh")


def test_without_inotify_instances_the_daemon_polls_with_one_warning(app, inbox, ingesters, media):
    assert unshare_available(), "these tests need unprivileged user namespaces (unshare -U)"
    daemon = ingesters("ingest", extra_env=QUICK, wrapper=in_user_namespace("max_inotify_instances", 0))
    wait_for_log(daemon, "polling every")
    shutil.copyfile(media / "jfk3.wav", inbox / "talk.wav")
    wait_for_jobs(app, daemon, 1)
    assert daemon.log().count("inotify cannot be used") == 1
    assert "inotify instance limit reached" in daemon.log()


def test_folders_beyond_the_watch_limit_are_polled_and_the_log_names_the_sysctl(app, inbox, ingesters, media):
    for number in range(100):  # 300 folders, 40 watches
        (inbox / f"client {number}" / "2026" / "12").mkdir(parents=True)
    daemon = ingesters("ingest", extra_env=QUICK, wrapper=in_user_namespace("max_inotify_watches", 40))
    wait_for_log(daemon, "inotify watch limit is reached")
    log = daemon.log()
    assert "261 folder(s) of the inbox are not watched" in log and "(inotify)" in log
    assert "user.max_inotify_watches (now 40) by at least 261, or fs.inotify.max_user_watches" in log
    unwatched = Path(re.search(r"not watched, such as (.+?); their files", log).group(1))
    shutil.copyfile(media / "jfk3.wav", unwatched / "talk.wav")
    copied = utcnow()
    job = wait_for_jobs(app, daemon, 1, timeout=10)[str(unwatched.relative_to(inbox) / "talk.wav")]
    assert (job.created_at - copied).total_seconds() < 5  # a poll every 0.5 s, not the walk every 60 s
    (inbox / "new client" / "2026").mkdir(parents=True)  # created later, beyond the limit too
    shutil.copyfile(DATA / "jfk.flac", inbox / "new client" / "2026" / "call.flac")
    assert "new client/2026/call.flac" in wait_for_jobs(app, daemon, 2, timeout=10)
    assert daemon.log().count("inotify watch limit is reached") == 1
    assert "inotify cannot be used" not in daemon.log()


def test_a_folder_unreadable_for_a_while_is_polled_then_watched_again(app, inbox, ingesters, media):
    # Without capabilities (uid 1000 in a user namespace) the mode bits apply to the daemon too.
    daemon = ingesters("ingest", extra_env=QUICK, wrapper=("unshare", "-U", "--map-user=1000", "--map-group=1000"))
    wait_for_log(daemon, "watching")
    locked = inbox / "locked"
    locked.mkdir(mode=0)
    wait_for_log(daemon, f"cannot watch the folder {locked} (Permission denied)", timeout=10)
    locked.chmod(0o755)
    shutil.copyfile(media / "jfk3.wav", locked / "first.wav")
    wait_for_jobs(app, daemon, 1, timeout=10)
    wait_for_log(daemon, f"the folder {locked} is watched again (inotify)", timeout=10)
    shutil.copyfile(DATA / "jfk.flac", locked / "second.flac")  # found by an event: no poll looks there now
    assert set(wait_for_jobs(app, daemon, 2, timeout=10)) == {"locked/first.wav", "locked/second.flac"}
    log = daemon.log()
    assert log.count("cannot watch the folder") == 1 and log.count("watching") == 1
    assert "inotify cannot be used" not in log and "polling" not in log


def test_an_unreadable_file_is_logged_once_and_taken_once_readable(app, inbox, ingesters, media):
    # Without capabilities (uid 1000 in a user namespace) the mode bits apply to the daemon too.
    daemon = ingesters("ingest", extra_env=QUICK, wrapper=("unshare", "-U", "--map-user=1000", "--map-group=1000"))
    wait_for_log(daemon, "watching")
    locked = inbox / "locked.wav"
    shutil.copyfile(media / "jfk3.wav", locked)
    locked.chmod(0)
    shutil.copyfile(DATA / "jfk.flac", inbox / "fine.flac")
    wait_for_log(daemon, "cannot read")
    assert set(wait_for_jobs(app, daemon, 1)) == {"fine.flac"}
    time.sleep(2.5)
    assert daemon.log().count("cannot read") == 1 and "Permission denied" in daemon.log()
    locked.chmod(0o644)
    assert set(wait_for_jobs(app, daemon, 2)) == {"fine.flac", "locked.wav"}


def test_a_name_that_is_not_utf8_is_skipped_once_and_the_others_are_taken(app, inbox, ingesters, media):
    daemon = start_quick(ingesters)
    shutil.copyfile(media / "jfk3.wav", inbox / os.fsdecode(b"bad\xffname.wav"))
    shutil.copyfile(DATA / "jfk.flac", inbox / "first.flac")
    wait_for_jobs(app, daemon, 1)
    shutil.copyfile(media / "jfk3.wav", inbox / "second.wav")  # a later arrival: no "works again" either
    assert set(wait_for_jobs(app, daemon, 2)) == {"first.flac", "second.wav"}
    time.sleep(2.5)  # several quiet periods and poll intervals
    log = daemon.log()
    assert log.count(f"not taken: {inbox}/bad\\xffname.wav: its name is not valid UTF-8; rename it") == 1, log
    assert "cannot deliver" not in log and "works again" not in log
