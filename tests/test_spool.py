"""The spool protocol on real directories: delivery, claims, and job files that must not run."""

from __future__ import annotations

import json
import os
import threading

import pytest

from runner.core.options import JobOptions
from runner.core.spool import JobFile, JobFileError, new_job_id
from runner.jobs.submit import submit_path


def test_delivered_job_file_is_complete_and_claimed_once(app, media):
    job = submit_path(app.store, app.spool, media / "jfk3.wav", JobOptions())
    assert app.spool.pending() == [job.id]
    assert os.listdir(app.spool.tmp) == []
    results = []
    barrier = threading.Barrier(8)

    def contend():
        barrier.wait()
        results.append(app.spool.claim(job.id))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len([r for r in results if r is not None]) == 1
    claimed = app.spool.read(app.spool.cur / f"{job.id}.json")
    assert claimed.media == job.media_path and claimed.options == JobOptions()
    assert app.store.claim(job.id, "a", 60) is True
    assert app.store.claim(job.id, "b", 60) is False


def write_job_file(app, job_id: str, **changes) -> None:
    media = f"media/{job_id}.wav"
    (app.spool.root / media).write_bytes(b"RIFF")
    data = json.loads(JobFile(job_id, media, "x.wav", "cli", JobOptions()).to_json())
    data.update(changes)
    (app.spool.new / f"{job_id}.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"media": "media/../../../../etc/passwd"}, "outside the spool"),
        ({"media": "/etc/passwd"}, "under media/"),
        ({"options": {"task": "explode"}}, "invalid options"),
        ({"options": {"shell": "rm -rf /"}}, "unknown option"),
        ({"source": "mars"}, "unknown source"),
        ({"version": 99}, "unsupported job file version"),
        ({"extra": 1}, "keys must be exactly"),
    ],
)
def test_hostile_job_files_are_rejected(app, changes, reason):
    job_id = new_job_id()
    write_job_file(app, job_id, **changes)
    with pytest.raises(JobFileError, match=reason):
        app.spool.read(app.spool.new / f"{job_id}.json")


def test_symlinked_media_is_rejected(app, tmp_path):
    job_id = new_job_id()
    write_job_file(app, job_id)
    target = app.spool.root / f"media/{job_id}.wav"
    target.unlink()
    target.symlink_to(tmp_path / "secret.wav")
    with pytest.raises(JobFileError, match="symbolic link"):
        app.spool.read(app.spool.new / f"{job_id}.json")


def test_runner_moves_bad_job_files_aside_and_goes_on(app, media, cli):
    hostile = new_job_id()
    write_job_file(app, hostile, media="media/../../../../etc/passwd")
    (app.spool.new / f"{new_job_id()}.json").write_text("{not json")
    good = submit_path(app.store, app.spool, media / "jfk3.wav", JobOptions())
    ran = cli("runner", "--burst")
    assert ran.returncode == 0, ran.stderr
    assert app.store.get(good.id).status == "succeeded"
    bad = sorted(os.listdir(app.spool.bad))
    assert len([name for name in bad if name.endswith(".reason")]) == 2
    assert "outside the spool" in (app.spool.bad / f"{hostile}.json.reason").read_text()
    assert "moved bad job file" in ran.stderr
    assert app.spool.pending() == []


def test_a_job_file_without_a_row_is_still_run(app, media, cli):
    job_id = new_job_id()
    with open(media / "jfk3.wav", "rb") as source:
        media_path = app.spool.store_media_file(job_id, "jfk3.wav", source)
    app.spool.enqueue(JobFile(job_id, media_path, "dropped.wav", "cli", JobOptions(formats=("txt",))))
    assert cli("runner", "--burst").returncode == 0
    job = app.store.get(job_id)
    assert job.status == "succeeded" and [p.rsplit("/", 1)[1] for p in job.outputs] == ["dropped.txt"]
