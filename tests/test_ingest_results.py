"""Where the results of inbox jobs land: next to the source or in the outbox, never over an
existing file, and an error file for a failed job (placement functions, then a real runner)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from conftest import job_bound, wait_for

from runner.core.options import JobOptions
from runner.core.schema import JobSource
from runner.core.settings import Settings
from runner.core.spool import JobFile
from runner.core.transcript import Transcript
from runner.output.inbox import free_names, inbox_output_paths, write_error_file
from runner.output.naming import output_formats

JOB_ID = "01J00000000000000000000000"


def inbox_job(source: Path, formats=("txt", "srt", "vtt", "json"), kind: JobSource = JobSource.INBOX) -> JobFile:
    return JobFile(JOB_ID, f"media/{JOB_ID}.wav", source.name, kind.value, JobOptions(formats=formats), str(source))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", inbox=str(tmp_path / "inbox"))


def test_outputs_go_next_to_the_source_named_after_it(settings):
    source = settings.inbox_dir / "sub dir" / "-Réunion (finale) 会议.wav"
    source.parent.mkdir(parents=True)
    paths = inbox_output_paths(settings, inbox_job(source))
    assert paths == {fmt: source.parent / f"-Réunion (finale) 会议.{fmt}" for fmt in ("txt", "srt", "vtt", "json")}


def test_a_source_folder_gone_meanwhile_is_not_made_again(settings):
    source = settings.inbox_dir / "removed" / "talk.wav"
    assert inbox_output_paths(settings, inbox_job(source, formats=("txt",))) == {
        "txt": settings.outputs_dir / JOB_ID / "talk.txt"}
    assert write_error_file(settings, inbox_job(source), "bad", "r1") is None
    assert not source.parent.exists()


def test_an_existing_file_is_never_chosen(settings):
    folder = settings.inbox_dir
    folder.mkdir(parents=True)
    (folder / "talk.srt").write_text("mine")
    (folder / "talk.spoolscribe.txt").write_text("mine")
    (folder / "talk.txt").symlink_to(folder / "nowhere")  # a dangling link is a name taken too
    paths = inbox_output_paths(settings, inbox_job(folder / "talk.wav", formats=("txt", "srt", "json")))
    assert paths == {"txt": folder / "talk.spoolscribe-2.txt", "srt": folder / "talk.spoolscribe.srt",
                     "json": folder / "talk.json"}


def test_a_diarized_jobs_rttm_never_replaces_a_file_either(settings):
    folder = settings.inbox_dir
    folder.mkdir(parents=True)
    (folder / "talk.rttm").write_text("the user's own reference")
    diarized = Transcript("en", 0.9, 3.0, (), turns=())
    formats = output_formats(("txt",), diarized)
    assert formats == ("txt", "rttm") and output_formats(("txt",), Transcript("en", 0.9, 3.0)) == ("txt",)
    assert inbox_output_paths(settings, inbox_job(folder / "talk.wav", formats=("txt",)), formats) == {
        "txt": folder / "talk.txt", "rttm": folder / "talk.spoolscribe.rttm"}


def test_free_names_are_checked_when_each_is_produced(tmp_path):
    names = free_names(tmp_path, "talk", ".srt")
    first = next(names)
    first.write_text("taken by someone else meanwhile")
    assert next(names) == tmp_path / "talk.spoolscribe.srt"


def test_an_outbox_mirrors_the_inbox_tree(tmp_path):
    settings = Settings(home=tmp_path / "home", inbox=str(tmp_path / "inbox"), inbox_outbox=str(tmp_path / "out"))
    paths = inbox_output_paths(settings, inbox_job(tmp_path / "inbox" / "a" / "b" / "talk.wav", formats=("srt",)))
    assert paths == {"srt": tmp_path / "out" / "a" / "b" / "talk.srt"}
    (tmp_path / "forced").mkdir()
    elsewhere = inbox_output_paths(settings, inbox_job(tmp_path / "forced" / "talk.wav", formats=("srt",)))
    assert elsewhere == {"srt": settings.outputs_dir / JOB_ID / "talk.srt"}  # not below the inbox: not beside it


def test_results_never_leave_the_inbox(settings, tmp_path):
    """A hand-placed job file may name any inbox path; results stay in the inbox or go to the job's
    own outputs directory, also through ``..`` or a folder replaced by a link to the data root."""
    settings.inbox_dir.mkdir(parents=True)
    settings.home.mkdir(parents=True, exist_ok=True)
    outside = {"sibling": tmp_path / "talk.wav", "dotdot": settings.inbox_dir / ".." / "home" / "talk.wav",
               "etc": Path("/etc/talk.wav")}
    (settings.inbox_dir / "linked").symlink_to(settings.home)
    outside["linked"] = settings.inbox_dir / "linked" / "talk.wav"
    for source in outside.values():
        assert inbox_output_paths(settings, inbox_job(source, formats=("txt",))) == {
            "txt": settings.outputs_dir / JOB_ID / "talk.txt"}, source
        assert write_error_file(settings, inbox_job(source), "bad", "r1") is None
    assert not (settings.home / "talk.wav.error.txt").exists() and not (tmp_path / "talk.wav.error.txt").exists()


def test_a_failed_job_leaves_an_error_file_and_never_replaces_one(settings):
    source = settings.inbox_dir / "talk.wav"
    settings.inbox_dir.mkdir(parents=True)
    first = write_error_file(settings, inbox_job(source), "the file is not audio", "r1")
    assert first == settings.inbox_dir / "talk.wav.error.txt"
    text = first.read_text(encoding="utf-8")
    assert "talk.wav" in text and "the file is not audio" in text and JOB_ID in text
    second = write_error_file(settings, inbox_job(source), "again", "r1")
    assert second == settings.inbox_dir / "talk.wav.spoolscribe.error.txt"
    assert "the file is not audio" in first.read_text(encoding="utf-8")


def test_only_inbox_jobs_get_error_files_and_a_write_problem_is_only_logged(settings, tmp_path, caplog):
    assert write_error_file(settings, inbox_job(tmp_path / "x.wav", kind=JobSource.UPLOAD), "bad", "r1") is None
    assert not (tmp_path / "x.wav.error.txt").exists()
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    outbox = Settings(home=tmp_path / "home", inbox=str(tmp_path), inbox_outbox=str(blocked / "out"))
    assert write_error_file(outbox, inbox_job(tmp_path / "sub" / "talk.wav"), "bad", "r1") is None
    assert f"runner r1: job {JOB_ID}: cannot write the error file" in caplog.text


# -- with the daemons ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_results_land_beside_the_source_an_existing_srt_survives_and_failures_leave_an_error_file(
        app, inbox, ingesters, runners, media):
    (inbox / "talk.srt").write_text("my own subtitles\n", encoding="utf-8")
    daemon = ingesters("ingest", extra_env={"SPOOLSCRIBE_INBOX_QUIET": "0.5"})
    shutil.copyfile(media / "jfk3.wav", inbox / "talk.wav")
    shutil.copyfile(media / "notes.mp3", inbox / "notes.mp3")
    wait_for(lambda: app.store.counts()["queued"] == 2, 30, what=f"two queued jobs; log:\n{daemon.log()}")
    runner = runners("r1", "--burst")
    assert runner.wait(timeout=job_bound(app.settings, 3.0)) == 0, runner.log_path.read_text()
    jobs = {job.original_name: job for job in app.store.list()}
    talk, notes = jobs["talk.wav"], jobs["notes.mp3"]
    assert talk.status == "succeeded", talk.error
    assert (inbox / "talk.srt").read_text(encoding="utf-8") == "my own subtitles\n"
    expected = [inbox / "talk.txt", inbox / "talk.spoolscribe.srt", inbox / "talk.vtt", inbox / "talk.json"]
    assert talk.outputs == [str(path) for path in expected]
    assert "fellow americans" in (inbox / "talk.txt").read_text(encoding="utf-8").lower()
    assert "-->" in (inbox / "talk.spoolscribe.srt").read_text(encoding="utf-8")
    assert notes.status == "failed" and notes.error
    assert notes.error in (inbox / "notes.mp3.error.txt").read_text(encoding="utf-8")
    assert sorted(p.name for p in inbox.iterdir() if p.name.startswith("notes")) == ["notes.mp3", "notes.mp3.error.txt"]
    time.sleep(1.5)  # three quiet periods: the results written into the inbox did not become jobs
    assert sum(app.store.counts().values()) == 2 and daemon.poll() is None
    assert daemon.log().count("queued for") == 2
