"""Retention: jobs with backdated end times lose exactly what the settings say (media, outputs,
rows); a dry run changes nothing; a running job and inbox sources are never touched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import DATA, wait_for

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


LIFETIMES = {"SPOOLSCRIBE_RETENTION_MEDIA_DAYS": "7", "SPOOLSCRIBE_RETENTION_FAILED_MEDIA_DAYS": "30",
             "SPOOLSCRIBE_RETENTION_JOB_DAYS": "60"}


def files(home: Path) -> set[str]:
    """Every file under the data root but the database's own."""
    return {str(Path(d, f).relative_to(home)) for d, _, names in os.walk(home) for f in names
            if not f.startswith("spoolscribe.db")}


def rows(app) -> dict[str, tuple]:
    return {job.id: (job.status, job.finished_at, job.media_removed_at) for job in app.store.list(limit=1000)}


def kept(app, job) -> dict[str, bool]:
    """What of a job is still there: its row, its media in the spool, its outputs."""
    return {"row": app.store.get(job.id) is not None, "media": (app.spool.root / job.media_path).exists(),
            "outputs": all(Path(path).exists() for path in job.outputs)}


ALL = {"row": True, "media": True, "outputs": True}
NO_MEDIA = {"row": True, "media": False, "outputs": True}
NOTHING = {"row": False, "media": False, "outputs": False}


def test_ended_jobs_lose_exactly_what_the_settings_say(app, ended_job, cli, inbox):
    source = inbox / "talk.wav"
    shutil.copy(DATA / "sample.wav", source)
    jobs = {
        "recent": ended_job("succeeded", days=3),
        "old": ended_job("succeeded", days=10),
        "old_cancelled": ended_job("cancelled", days=10),
        "failed": ended_job("failed", days=10),  # kept longer, for a retry
        "old_failed": ended_job("failed", days=40),
        "ancient": ended_job("succeeded", days=70),
        "ancient_failed": ended_job("failed", days=70),
        "inbox": ended_job("succeeded", days=70, name="talk.wav", inbox_source=source),
    }
    before_files, before_rows = files(app.settings.home), rows(app)

    dry = cli("purge", "--dry-run", extra_env=LIFETIMES)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == "would remove 3 jobs and the media of 3 more"
    assert files(app.settings.home) == before_files and rows(app) == before_rows

    done = cli("purge", extra_env=LIFETIMES)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "removed 3 jobs and the media of 3 more"
    expected = {"recent": ALL, "old": NO_MEDIA, "old_cancelled": NO_MEDIA, "failed": ALL, "old_failed": NO_MEDIA,
                "ancient": NOTHING, "ancient_failed": NOTHING}
    assert {name: kept(app, jobs[name]) for name in expected} == expected
    assert not (app.settings.outputs_dir / jobs["ancient"].id).exists()
    inbox_job = jobs["inbox"]
    assert app.store.get(inbox_job.id) is None and not (app.spool.root / inbox_job.media_path).exists()
    assert source.read_bytes() == (DATA / "sample.wav").read_bytes(), "an inbox source is never deleted"
    assert all(Path(path).exists() for path in inbox_job.outputs), "results beside an inbox file stay"
    assert app.store.get(jobs["old"].id).media_removed_at is not None

    refused = cli("retry", jobs["old"].id, extra_env=LIFETIMES)
    assert refused.returncode == 1 and "media was deleted" in refused.stderr and "retention" in refused.stderr
    assert app.store.get(jobs["old"].id).status == "succeeded"
    allowed = cli("retry", jobs["failed"].id, extra_env=LIFETIMES)
    assert allowed.returncode == 0, allowed.stderr
    assert app.store.get(jobs["failed"].id).status == "queued"

    again = cli("purge", extra_env=LIFETIMES)
    assert again.stdout.splitlines()[-1] == "removed 0 jobs and the media of 0 more"


def test_purge_older_than_removes_every_ended_job_of_that_age(app, ended_job, cli):
    old, old_failed, newer = ended_job("succeeded", days=40), ended_job("failed", days=40), ended_job("succeeded", 10)
    dry = cli("purge", "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = dry.stdout.splitlines()
    assert listed[-1] == "would remove 2 jobs and the media of 1 more"
    assert any(line.startswith(f"would remove job {old_failed.id} ") for line in listed)
    assert all(kept(app, job) == ALL for job in (old, old_failed, newer))

    done = cli("purge", "--older-than", "30d")
    assert done.stdout.splitlines()[-1] == "removed 2 jobs and the media of 1 more", done.stdout + done.stderr
    assert kept(app, old) == kept(app, old_failed) == NOTHING
    assert kept(app, newer) == NO_MEDIA  # the default media lifetime (7 days) still applies
    bad = cli("purge", "--older-than", "soon")
    assert bad.returncode == 2 and "is not an age" in bad.stderr


def test_a_runner_sweeps_and_a_running_job_is_never_touched(app, ended_job, cli, media, runners):
    old = ended_job("succeeded", days=10)
    running = cli("submit", str(media / "long.wav")).stdout.strip()
    runner = runners("sweeper")
    wait_for(lambda: kept(app, old) == NO_MEDIA, 60, what="the runner's retention sweep at its start")
    wait_for(lambda: app.store.get(running).status == "running", 60, what="the job to run")

    during = cli("purge", "--older-than", "0s")
    assert during.returncode == 0, during.stderr
    assert running not in during.stdout and during.stdout.splitlines()[-1] == "removed 1 jobs and the media of 0 more"
    job = app.store.get(running)
    assert job.status == "running" and job.media_removed_at is None and (app.spool.root / job.media_path).exists()

    wait_for(lambda: app.store.get(running).status == "succeeded", 240, interval=0.5, what="the job to succeed")
    assert runner.poll() is None
    outputs = app.store.get(running).outputs
    after = cli("purge", "--older-than", "0s")
    assert f"removed job {running} " in after.stdout
    assert app.store.get(running) is None and not any(Path(path).exists() for path in outputs)
    log = runner.log_path.read_text()
    assert f"runner sweeper: job {old.id}: media removed by retention" in log
