"""Faults around a job's files: a rejected job file ends its job once; results that cannot be
written beside an inbox file go to the outputs directory; a transcript whose outputs could not be
written is rendered again on retry, never transcribed again."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import DATA, wait_for

from runner.core.options import JobOptions
from runner.core.schema import JobSource
from runner.daemon.loop import Runner
from runner.daemon.reaper import repair_spool
from runner.daemon.transcribe import Engine
from runner.jobs.submit import submit_path


def test_a_rejected_job_file_fails_its_job_once_with_the_reason(app):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    (app.spool.new / f"{job.id}.json").write_text("{}")  # not the documented shape
    runner = Runner(app.settings, app.store, app.spool, Engine(app.settings), "r1")

    assert runner.loop() is False
    failed = app.store.get(job.id)
    assert failed.status == "failed"
    assert failed.error.startswith("the job file was rejected: job file keys must be exactly")
    assert sorted(p.name for p in app.spool.bad.iterdir()) == [f"{job.id}.json", f"{job.id}.json.reason"]
    # The reaper's repair pass no longer re-delivers it, and a second pass of the runner finds nothing.
    assert repair_spool(app.store, app.spool, "r1", grace=0) == []
    assert app.spool.pending() == [] and runner.loop() is False
    assert len(list(app.spool.bad.iterdir())) == 2 and app.store.get(job.id).finished_at == failed.finished_at


@pytest.mark.slow
def test_results_for_an_unwritable_inbox_folder_go_to_the_outputs_directory(app, runners, tmpfs):
    folder = tmpfs(app.settings.inbox_dir / "team", "2m")
    source = folder / "talk.flac"
    shutil.copyfile(DATA / "jfk.flac", source)
    job = submit_path(app.store, app.spool, source, JobOptions(formats=("txt", "srt")), kind=JobSource.INBOX,
                      inbox_path=str(source))
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)

    assert runners("r1", "--burst").wait(timeout=300) == 0
    done = app.store.get(job.id)
    assert done.status == "succeeded", done.error
    assert sorted(Path(p).parent for p in done.outputs) == [app.settings.outputs_dir / job.id] * 2
    assert "ask not what your country can do for you" in Path(done.outputs[0]).read_text().lower() + \
        Path(done.outputs[1]).read_text().lower()
    assert any(str(folder) in w and "Read-only file system" in w and str(app.settings.outputs_dir / job.id) in w
               for w in done.warnings), done.warnings
    assert sorted(p.name for p in folder.iterdir()) == ["talk.flac"]


@pytest.mark.slow
def test_retrying_a_job_whose_outputs_failed_renders_them_without_transcribing_again(app, runners, cli):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions(formats=("txt", "json")))
    blocker = app.settings.outputs_dir / job.id
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the job's output folder goes")

    first = runners("r1", "--burst")
    assert first.wait(timeout=300) == 0
    failed = app.store.get(job.id)
    assert failed.status == "failed" and failed.processed_seconds == failed.duration
    transcribed_segments = [s.text for s in app.store.segments(job.id)]
    assert transcribed_segments

    blocker.unlink()
    assert cli("retry", job.id).returncode == 0
    second = runners("r2", "--burst")
    assert second.wait(timeout=300) == 0
    done = wait_for(lambda: (j := app.store.get(job.id)).status == "succeeded" and j, 10, what="succeeded")
    log = second.log_path.read_text()
    assert "was transcribed before; writing its outputs again" in log
    assert "resumes at" not in log
    text = Path(next(p for p in done.outputs if p.endswith(".txt"))).read_text()
    assert " ".join(transcribed_segments).split() == text.split()
