"""The web's pages and API for jobs a runner worked on: an in-process runner with a fake recognizer
and the real Flask app on the same data root and database."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from urllib.parse import quote

import srt
import webvtt
from conftest import DATA, wait_for
from fakes import FakeRecognizer, fake_segments

NAME = "-Interview März (1).wav"
SAMPLE_SECONDS = 30.0


def partial_transcript(client, job_id: str, timeout: float = 60) -> list[srt.Subtitle]:
    """Wait (at most ``timeout`` seconds) until the cancelled job's runner kept its partial
    transcript; check the API and the job page say so; return the SRT download's cues."""
    done = wait_for(lambda: (job := client.get(f"/api/jobs/{job_id}").json)["outputs"] and job, timeout,
                    what="the runner to keep the partial transcript")
    assert done["status"] == "cancelled" and any("partial" in warning for warning in done["warnings"])
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert ">cancelled<" in page and "partial" in page and "Retry" in page
    return list(srt.parse(client.get(f"/api/jobs/{job_id}/transcript.srt").get_data(as_text=True)))


def test_finished_job_downloads_page_and_delete(app, client, upload, submit, make_runner, start_runner, tmp_path):
    job_id = upload(DATA / "sample.wav", NAME, language="en").json["id"]
    keep_id = upload(DATA / "jfk.flac").json["id"]
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    failed_id = submit(empty).id  # the web refuses it; the CLI does not
    start_runner(make_runner("web-test"), burst=True).join(timeout=60)

    job = client.get(f"/api/jobs/{job_id}").json
    assert job["status"] == "succeeded" and len(job["outputs"]) == 4 and job["progress"] == 1.0
    downloads = {fmt: client.get(f"/api/jobs/{job_id}/transcript.{fmt}") for fmt in ("txt", "srt", "vtt", "json")}
    for fmt, response in downloads.items():
        assert response.status_code == 200
        assert response.headers["Content-Type"].endswith("charset=utf-8")
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''{quote(f'-Interview März (1).{fmt}')}" in disposition
    expected = fake_segments(SAMPLE_SECONDS)
    cues = list(srt.parse(downloads["srt"].get_data(as_text=True)))
    assert [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues] == \
        [(s.start, s.end, s.text) for s in expected]
    captions = webvtt.from_buffer(io.StringIO(downloads["vtt"].get_data(as_text=True)))
    assert [c.text for c in captions] == [c.content for c in cues]
    assert downloads["txt"].get_data(as_text=True).splitlines() == [s.text for s in expected]

    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    starts = re.findall(r'<li data-start="([0-9.]+)"', page)
    assert [float(s) for s in starts] == [s.start for s in expected]
    assert expected[1].text in page
    for fmt in ("TXT", "SRT", "VTT", "JSON"):
        assert f"Download {fmt}" in page
    assert f'src="/api/jobs/{job_id}/media"' in page

    failed = client.get(f"/jobs/{failed_id}").get_data(as_text=True)
    assert ">failed<" in failed and "Error:" in failed and "empty" in failed and "Retry" in failed
    assert client.get(f"/api/jobs/{failed_id}/transcript.txt").status_code == 404

    stored = app.store.get(job_id)
    media_file, outputs_dir = app.spool.root / stored.media_path, app.settings.outputs_dir / job_id
    assert media_file.exists() and outputs_dir.is_dir()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert not media_file.exists() and not outputs_dir.exists()
    assert all(not Path(path).exists() for path in stored.outputs)
    kept = app.store.get(keep_id)
    assert (app.spool.root / kept.media_path).exists() and all(Path(p).exists() for p in kept.outputs)
    assert client.get(f"/api/jobs/{job_id}").status_code == 404

    retried = client.post(f"/api/jobs/{failed_id}/retry")
    assert retried.status_code == 200 and retried.json["status"] == "queued" and retried.json["error"] is None


def test_a_running_job_shows_its_progress_and_cancelling_keeps_the_partial_transcript(
        app, client, upload, make_runner, start_runner):
    job_id = upload(DATA / "sample.wav", "long talk.wav", language="en").json["id"]
    next_id = upload(DATA / "jfk.flac").json["id"]
    reached, go_on = threading.Event(), threading.Event()

    def hold_at_the_sixth(index: int) -> None:
        if index == 5 and not reached.is_set():
            reached.set()
            assert go_on.wait(timeout=60)

    start_runner(make_runner("r1", FakeRecognizer(before_segment=hold_at_the_sixth)))
    try:  # the runner is inside the sixth segment: five are checkpointed
        assert reached.wait(timeout=60)
        running = client.get(f"/api/jobs/{job_id}").json
        assert running["status"] == "running" and running["stage"] == "transcribing"
        assert running["processed_seconds"] == fake_segments(SAMPLE_SECONDS)[4].end == 10.0
        state = client.get(f"/live/jobs/{job_id}").json["html"]["job-state"]
        assert '<progress value="0.3333" max="1">' in state and "33%" in state
        assert "0:10 of 0:30" in state and "Cancel" in state
        health = client.get("/healthz").json
        assert {"name": "r1", "state": "busy", "job_id": job_id} in [
            {key: r[key] for key in ("name", "state", "job_id")} for r in health["runners"]]
        cancelled = client.post(f"/api/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    finally:
        go_on.set()

    cues = partial_transcript(client, job_id)
    assert [c.content for c in cues] == [s.text for s in fake_segments(SAMPLE_SECONDS)[:6]]
    wait_for(lambda: app.store.get(next_id).status == "succeeded", 60, what="the runner to go on to the next job")
