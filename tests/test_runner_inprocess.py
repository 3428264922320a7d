"""The runner in this process with a fake recognizer: claiming, bad job files, failures, cancelling,
handing back on stop, the reaper and the time limit, against a real migrated database, a real spool
and real audio. The same behaviours with real processes and the real model are the slow layer's."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from pathlib import Path

import srt
import webvtt
from conftest import DATA, at_once, both_stores, wait_for
from fakes import FakeRecognizer, Killed, fake_segments
from test_spool import write_job_file

from runner.core.options import JobOptions
from runner.core.spool import JobFile, new_job_id
from runner.daemon.recognizer import ModelError
from runner.jobs.submit import cancel

JFK_SECONDS = 11.0

pytestmark = both_stores  # the store's lifecycle on SQLite and on PostgreSQL


def document(job) -> dict:
    """The job's JSON output, parsed."""
    return json.loads(Path(next(p for p in job.outputs if p.endswith(".json"))).read_text())


def spans(segments) -> list[tuple[float, float, str]]:
    """(start, end, text) of segments given as ``Segment``s or as the JSON output's dicts."""
    return [(round(s["start"], 3), round(s["end"], 3), s["text"]) if isinstance(s, dict)
            else (round(s.start, 3), round(s.end, 3), s.text) for s in segments]


def test_a_performed_job_writes_every_format_from_the_recognized_segments(app, submit, perform):
    job_id = submit(DATA / "jfk.flac").id
    assert perform(job_id) == "succeeded"
    job = app.store.get(job_id)
    expected = fake_segments(JFK_SECONDS)
    assert job.status == "succeeded" and job.progress == 1.0 and job.processed_seconds == JFK_SECONDS
    assert job.language == "en" and job.runner == "inproc" and job.attempts == 1
    assert sorted(Path(p).suffix for p in job.outputs) == [".json", ".srt", ".txt", ".vtt"]
    outputs = {Path(p).suffix: Path(p).read_text(encoding="utf-8") for p in job.outputs}
    cues = list(srt.parse(outputs[".srt"]))
    assert [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues] == spans(expected)
    captions = webvtt.from_buffer(io.StringIO(outputs[".vtt"]))
    assert [c.text for c in captions] == [s.text for s in expected]
    assert outputs[".txt"].splitlines() == [s.text for s in expected]
    assert spans(document(job)["segments"]) == spans(expected)
    assert [w["word"] for w in document(job)["segments"][0]["words"]] == [w.word for w in expected[0].words]
    assert len(app.store.segments(job_id)) == len(expected)


def test_two_runners_in_threads_claim_one_job_once(app, submit, make_runner, recognizer):
    job_id = submit(DATA / "jfk.flac").id
    one, two = make_runner("one"), make_runner("two")
    took = dict(zip(("one", "two"), at_once(one.loop, two.loop), strict=True))
    assert sorted(took.values()) == [False, True]
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.attempts == 1 and took[job.runner]
    assert len(recognizer.calls) == 1
    assert app.spool.pending() == [] and app.spool.claimed() == []


def test_two_runners_in_threads_process_ten_jobs_exactly_once(app, submit, make_runner, start_runner):
    ids = [submit(DATA / "jfk.flac", formats=("txt",)).id for _ in range(10)]
    engine = FakeRecognizer(delay=0.005)
    threads = [start_runner(make_runner(name, engine), burst=True) for name in ("one", "two")]
    for thread in threads:
        thread.join(timeout=120)
        assert thread.result == 0
    assert len(engine.calls) == 10 and engine.loaded == [None, None]  # each loads the default model first
    for job_id in ids:
        job = app.store.get(job_id)
        assert job.status == "succeeded" and job.attempts == 1 and job.runner in ("one", "two")
    assert app.spool.pending() == [] and app.spool.claimed() == []


def test_bad_job_files_are_moved_aside_with_the_reason_and_the_runner_goes_on(app, submit, make_runner,
                                                                              start_runner):
    hostile = new_job_id()
    write_job_file(app, hostile, media="media/../../../../etc/passwd")
    garbled = new_job_id()
    (app.spool.new / f"{garbled}.json").write_text("{not json")
    good = submit(DATA / "jfk.flac").id
    start_runner(make_runner(), burst=True).join(timeout=60)
    assert app.store.get(good).status == "succeeded"
    assert sorted(p.name for p in app.spool.bad.iterdir()) == sorted(
        [f"{hostile}.json", f"{hostile}.json.reason", f"{garbled}.json", f"{garbled}.json.reason"])
    assert "outside the spool" in (app.spool.bad / f"{hostile}.json.reason").read_text()
    assert app.spool.pending() == [] and app.spool.claimed() == []


def test_a_job_file_without_a_row_is_still_run(app, make_runner, start_runner):
    job_id = new_job_id()
    with open(DATA / "jfk.flac", "rb") as source:
        media_path = app.spool.store_media_file(job_id, "jfk.flac", source)
    app.spool.enqueue(JobFile(job_id, media_path, "dropped.wav", "cli", JobOptions(formats=("txt",))))
    start_runner(make_runner(), burst=True).join(timeout=60)
    job = app.store.get(job_id)
    assert job.status == "succeeded" and [Path(p).name for p in job.outputs] == ["dropped.txt"]


def test_failures_are_stored_with_a_message_and_the_runner_goes_on(app, submit, make_runner, start_runner,
                                                                   tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    undecodable = submit(empty).id
    broken = submit(DATA / "jfk.flac").id
    start_runner(make_runner(engine=FakeRecognizer(error=RuntimeError("engine exploded"), error_after=2)),
                 burst=True).join(timeout=60)
    no_model = submit(DATA / "jfk.flac", model="x").id
    start_runner(make_runner(engine=FakeRecognizer(error=ModelError("could not load model 'x': gone"))),
                 burst=True).join(timeout=60)
    fine = submit(DATA / "jfk.flac").id
    start_runner(make_runner("after"), burst=True).join(timeout=60)

    assert "empty" in app.store.get(undecodable).error
    assert app.store.get(broken).error == "internal error: RuntimeError: engine exploded"
    assert app.store.get(no_model).error == ("could not load model 'x': gone; check SPOOLSCRIBE_MODEL or the "
                                             "job's model option")
    assert app.store.get(fine).status == "succeeded"
    assert app.spool.pending() == [] and app.spool.claimed() == []


def test_cancelling_mid_job_keeps_the_partial_transcript(app, submit, perform):
    job_id = submit(DATA / "jfk.flac").id

    cancelled = []

    def cancel_at_the_fourth(index: int) -> None:
        if index == 3:
            cancelled.append(cancel(app.store, app.spool, job_id))

    assert perform(job_id, engine=FakeRecognizer(before_segment=cancel_at_the_fourth)) == "cancelled"
    assert cancelled[0].was_running and cancelled[0].job.stage is None  # not "cancelled (transcribing)"
    job = app.store.get(job_id)
    assert job.status == "cancelled" and job.error == "cancelled by request" and job.stage is None
    assert "cancelled: the transcript is partial" in job.warnings
    # the runner notices at the checkpoint after the segment under way: four segments are kept
    kept = fake_segments(JFK_SECONDS)[:4]
    assert spans(document(job)["segments"]) == spans(kept)
    # ... and the job's progress says how far the kept transcript reaches
    assert job.processed_seconds == kept[-1].end and job.progress == kept[-1].end / JFK_SECONDS
    assert not cancel(app.store, app.spool, submit(DATA / "jfk.flac").id).was_running
    assert all(str(app.settings.outputs_dir / job_id) in path for path in job.outputs)


def test_a_stopped_runner_hands_the_job_back_and_another_resumes_it(app, submit, make_runner, start_runner):
    job_id = submit(DATA / "sample.wav").id
    engine = FakeRecognizer()
    first = make_runner("first", engine)
    engine.before_segment = lambda index: index == 5 and first.stop()  # as SIGTERM would, mid-job
    stopping = start_runner(first)
    stopping.join(timeout=30)
    assert not stopping.is_alive() and stopping.result == 0, "stopped at the next segment"
    handed_back = app.store.get(job_id)
    assert handed_back.status == "queued" and handed_back.lease_expires_at is None
    assert app.spool.pending() == [job_id]
    kept = app.store.segments(job_id)
    assert [round(s.end, 3) for s in kept] == [round(s.end, 3) for s in fake_segments(30.0)[:6]]

    second_engine = FakeRecognizer()
    start_runner(make_runner("second", second_engine), burst=True).join(timeout=60)
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.attempts == 2 and job.runner == "second"
    (call,) = second_engine.calls
    assert call.start == kept[-1].end and call.language == "en"  # resumed, in the language found first
    assert spans(document(job)["segments"]) == spans(fake_segments(30.0))  # no gap, nothing twice


def test_a_runner_asked_to_stop_near_the_end_finishes_the_job(app, submit, perform):
    job_id = submit(DATA / "jfk.flac").id
    stop = threading.Event()
    engine = FakeRecognizer(before_segment=lambda index: index == 5 and stop.set())  # the last, past 90 %
    assert perform(job_id, engine=engine, stop_requested=stop.is_set) == "succeeded"
    assert spans(document(app.store.get(job_id))["segments"]) == spans(fake_segments(JFK_SECONDS))


def abandon(app, submit, perform, runner: str, lease_seconds: float) -> str:
    """A job whose runner died after four checkpointed segments: running, leased, nobody told."""
    job_id = submit(DATA / "jfk.flac").id

    def die(index: int) -> None:
        if index == 4:
            raise Killed()

    with contextlib.suppress(Killed):
        perform(job_id, engine=FakeRecognizer(before_segment=die), runner=runner, lease_seconds=lease_seconds)
    job = app.store.get(job_id)
    assert job.status == "running" and job.runner == runner and len(app.store.segments(job_id)) == 4
    return job_id


def test_an_expired_lease_is_reaped_and_the_job_resumed_from_its_checkpoint(app, submit, perform, make_runner,
                                                                            start_runner, recognizer):
    lease = 1.0
    job_id = abandon(app, submit, perform, "victim", lease)
    rescuer = make_runner("rescuer", lease_seconds=lease)
    began = time.monotonic()
    start_runner(rescuer)
    # due once the lease ran out, then at the rescuer's next reaper pass; the margin is for a loaded machine
    bound = lease + rescuer.settings.reap_interval + 30
    wait_for(lambda: app.store.get(job_id).status == "succeeded", bound, what="the reaped job to succeed")
    job = app.store.get(job_id)
    assert job.attempts == 2 and job.runner == "rescuer"
    assert time.monotonic() - began < bound
    (call,) = recognizer.calls
    assert call.start == fake_segments(JFK_SECONDS)[3].end
    assert spans(document(job)["segments"]) == spans(fake_segments(JFK_SECONDS))


def test_a_job_abandoned_too_often_fails_with_the_reason(app, submit, perform, make_runner, start_runner):
    lease = 1.0
    job_id = abandon(app, submit, perform, "victim", lease)
    reaper = make_runner("reaper", lease_seconds=lease, max_attempts=1)
    start_runner(reaper)
    wait_for(lambda: app.store.get(job_id).status == "failed", lease + reaper.settings.reap_interval + 30,
             what="the reaper to fail the job")
    assert app.store.get(job_id).error == "abandoned after 1 attempts (last runner victim)"
    assert app.spool.pending() == [] and app.spool.claimed() == []


def test_a_restarted_runner_takes_back_its_own_job_at_once(app, submit, perform, make_runner, start_runner):
    restarted = make_runner("runner-1")  # the default lease
    job_id = abandon(app, submit, perform, "runner-1", restarted.settings.lease_seconds)
    began = time.monotonic()
    start_runner(restarted, burst=True).join(timeout=restarted.settings.lease_seconds)
    assert time.monotonic() - began < restarted.settings.lease_seconds, "long before the lease would run out"
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.attempts == 2


def test_a_job_past_its_time_limit_is_stopped_and_failed(app, submit, perform):
    job_id = submit(DATA / "jfk.flac").id
    slow = FakeRecognizer(delay=0.05)  # the limit is 0.001 x 11 s: passed after the first segment
    assert perform(job_id, engine=slow, time_limit_factor=0.001, time_limit_floor=0) == "failed"
    job = app.store.get(job_id)
    assert job.error.startswith("stopped after") and "past the time limit of 0 s for 11 s of audio" in job.error
    assert "SPOOLSCRIBE_TIME_LIMIT_FACTOR" in job.error
    assert len(app.store.segments(job_id)) == 1  # the checkpoint is kept for a retry


def test_a_retried_write_removes_what_a_killed_attempt_left_in_the_jobs_folder(app, submit, perform):
    job_id = submit(DATA / "jfk.flac").id
    folder = app.settings.outputs_dir / job_id
    folder.mkdir(parents=True)
    left = [folder / ".jfk.json.40d11116.tmp", folder / ".jfk.srt.0badf00d.tmp"]  # as a SIGKILL leaves them
    for path in left:
        path.write_text("half written")
    (folder / "notes.txt").write_text("not ours")  # only our temporaries' names are touched

    assert perform(job_id) == "succeeded"
    job = app.store.get(job_id)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(Path(p).name for p in job.outputs), "notes.txt"])
