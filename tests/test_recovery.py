"""Runners stopped, killed or overrun: no job lost, none done twice, work resumed from checkpoints."""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path

import pytest
from conftest import DATA, PROCESS_START_SECONDS, job_bound, stop_bound, wait_for
from test_end_to_end import reference_of_stm, wer

from runner.jobs.submit import cancel

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


FAST_REAP = {"SPOOLSCRIBE_LEASE_SECONDS": "4", "SPOOLSCRIBE_REAP_INTERVAL": "0.5"}
LONG_SECONDS = 180.0
"""long.wav: sample.wav six times."""


def checkpointed(app, job_id: str, at_least: float = 20.0):
    """Wait until the job is running with at least ``at_least`` seconds of audio checkpointed."""
    def ready():
        job = app.store.get(job_id)
        return job.status == "running" and job.processed_seconds >= at_least and app.store.segments(job_id)
    wait_for(ready, job_bound(app.settings, LONG_SECONDS), interval=0.05,
             what=f"job {job_id} checkpointed past {at_least} s")
    return app.store.get(job_id)


def assert_complete_transcript(job) -> None:
    """Segments in order, no overlap, no duplicated stretch, covering the audio to its end."""
    document = json.loads(Path(next(p for p in job.outputs if p.endswith(".json"))).read_text())
    segments = document["segments"]
    assert segments, "no segments"
    for before, after in itertools.pairwise(segments):
        assert after["start"] >= before["end"] - 0.01, (before, after)
    assert segments[-1]["end"] > document["duration"] - 5
    # long.wav is sample.wav six times: each 30 s stretch holds the same call, so each must have words.
    for stretch in range(6):
        words = [w for s in segments for w in s["words"] if stretch * 30 <= w["start"] < (stretch + 1) * 30]
        assert len(words) > 40, f"stretch {stretch} has only {len(words)} words"


def test_sigterm_hands_the_job_back_and_another_runner_finishes_it(media, cli, app, runners):
    job_id = cli("submit", str(media / "long.wav")).stdout.strip()
    first = runners("first", "--threads", "1")
    before = checkpointed(app, job_id)
    stopped_at = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=stop_bound(app.settings)) == 0
    assert time.monotonic() - stopped_at < stop_bound(app.settings)
    handed_back = app.store.get(job_id)
    assert handed_back.status == "queued" and handed_back.lease_expires_at is None
    assert app.spool.pending() == [job_id]
    second = runners("second", "--burst")
    assert second.wait(timeout=job_bound(app.settings, LONG_SECONDS)) == 0
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.attempts == 2 and job.runner == "second"
    log = second.log_path.read_text()
    resumed_at = float(log.split(f"job {job_id} resumes at ")[1].split(" s")[0])
    assert resumed_at >= before.processed_seconds
    assert_complete_transcript(job)


def test_a_killed_runners_job_is_reaped_and_resumed_from_its_checkpoint(media, cli, app, runners):
    job_id = cli("submit", str(media / "long.wav")).stdout.strip()
    victim = runners("victim", "--threads", "1", extra_env=FAST_REAP)
    checkpointed(app, job_id)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert app.store.get(job_id).status == "running"  # nobody told the database
    rescuer = runners("rescuer", extra_env=FAST_REAP)
    wait_for(lambda: app.store.get(job_id).status == "succeeded",
             float(FAST_REAP["SPOOLSCRIBE_LEASE_SECONDS"]) + job_bound(app.settings, LONG_SECONDS),
             what="the rescued job to finish")
    rescuer.terminate()
    assert rescuer.wait(timeout=15) == 0
    job = app.store.get(job_id)
    assert job.attempts == 2 and job.runner == "rescuer"
    log = rescuer.log_path.read_text()
    assert f"job {job_id} returned to the queue: runner victim abandoned it (attempt 1 of 3)" in log
    assert f"job {job_id} resumes at" in log
    assert_complete_transcript(job)


def test_a_job_abandoned_too_often_fails_with_the_reason(media, cli, app, runners):
    job_id = cli("submit", str(media / "long.wav")).stdout.strip()
    settings = {**FAST_REAP, "SPOOLSCRIBE_MAX_ATTEMPTS": "1"}
    victim = runners("victim", "--threads", "1", extra_env=settings)
    checkpointed(app, job_id, at_least=1)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    runners("reaper", extra_env=settings)
    wait_for(lambda: app.store.get(job_id).status == "failed", float(settings["SPOOLSCRIBE_LEASE_SECONDS"])
             + float(settings["SPOOLSCRIBE_REAP_INTERVAL"]) + PROCESS_START_SECONDS, what="the reaper to fail the job")
    job = app.store.get(job_id)
    assert job.error == "abandoned after 1 attempts (last runner victim)"
    assert app.spool.pending() == [] and app.spool.claimed() == []


def test_a_restarted_runner_takes_back_its_own_job_at_once(media, cli, app, runners):
    job_id = cli("submit", str(media / "long.wav")).stdout.strip()
    victim = runners("runner-1", "--threads", "1")  # default lease: 60 s
    checkpointed(app, job_id)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    lapses_at = app.store.get(job_id).lease_expires_at
    restarted = runners("runner-1", "--burst")
    assert restarted.wait(timeout=job_bound(app.settings, LONG_SECONDS)) == 0
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.attempts == 2
    assert job.started_at < lapses_at, "taken back at once, not after the lease ran out"


def test_cancelling_a_running_job_keeps_the_partial_transcript(media, cli, app, runners):
    long_id, short_id = cli("submit", str(media / "long.wav"), str(media / "jfk3.wav")).stdout.split()
    runner = runners("worker", "--threads", "1")
    checkpointed(app, long_id)
    cancel(app.store, app.spool, long_id)
    wait_for(lambda: app.store.get(short_id).status == "succeeded", job_bound(app.settings, 3.0),
             what="the next job to run")
    job = app.store.get(long_id)
    assert job.status == "cancelled" and job.error == "cancelled by request"
    assert "cancelled: the transcript is partial" in job.warnings
    document = json.loads(Path(next(p for p in job.outputs if p.endswith(".json"))).read_text())
    assert 20 <= document["segments"][-1]["end"] < 170
    assert job.stage is None and abs(job.processed_seconds - document["segments"][-1]["end"]) < 0.01
    assert "status:    cancelled\n" in cli("status", long_id).stdout
    assert runner.poll() is None


def test_a_job_past_its_time_limit_is_stopped_and_failed(media, cli, app):
    job_id = cli("submit", str(media / "long.wav")).stdout.strip()
    ran = cli("runner", "--burst", extra_env={"SPOOLSCRIBE_TIME_LIMIT_FACTOR": "0.001",
                                              "SPOOLSCRIBE_TIME_LIMIT_FLOOR": "0"})
    assert ran.returncode == 0
    job = app.store.get(job_id)
    assert job.status == "failed"
    assert job.error.startswith("stopped after") and "past the time limit of 0 s for 180 s of audio" in job.error


def test_a_long_recording_is_transcribed_window_by_window_without_gaps(media, cli, app):
    """With 60 s windows, a 180 s recording is transcribed in pieces that join without a gap or
    a repeated stretch, and its words match the reference transcript (sample.stm six times) as well
    as a transcription in one piece does (measured: WER 0.15 in one piece, 0.12 in 60 s windows)."""
    windowed_id = cli("submit", str(media / "long.wav")).stdout.strip()
    assert cli("runner", "--burst", extra_env={"SPOOLSCRIBE_WINDOW_SECONDS": "60"}).returncode == 0
    windowed = app.store.get(windowed_id)
    assert_complete_transcript(windowed)
    text = json.loads(Path(next(p for p in windowed.outputs if p.endswith(".json"))).read_text())["text"]
    assert wer(" ".join([reference_of_stm(DATA / "sample.stm")] * 6), text) <= 0.2
