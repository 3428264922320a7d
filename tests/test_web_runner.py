"""The web with a real runner process: downloads of finished transcripts, the job page's lines and
audio, deleting a job with its files, a failed job's error, and cancelling a running job."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import quote

import pytest
import srt
import webvtt
from conftest import wait_for

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


DATA = Path(__file__).parent / "data"
NAME = "-Interview März (1).wav"


def test_finished_job_downloads_page_and_delete(app, client, upload, cli, media):
    job_id = upload(DATA / "sample.wav", NAME, language="en").json["id"]
    failed_id = cli("submit", str(media / "empty.wav")).stdout.strip()
    keep_id = upload(DATA / "jfk.flac").json["id"]
    ran = cli("runner", "--burst", "--name", "web-test")
    assert ran.returncode == 0, ran.stderr

    job = client.get(f"/api/jobs/{job_id}").json
    assert job["status"] == "succeeded" and len(job["outputs"]) == 4
    downloads = {fmt: client.get(f"/api/jobs/{job_id}/transcript.{fmt}") for fmt in ("txt", "srt", "vtt", "json")}
    for fmt, response in downloads.items():
        assert response.status_code == 200
        assert response.headers["Content-Type"].endswith("charset=utf-8")
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''{quote(f'-Interview März (1).{fmt}')}" in disposition
    cues = list(srt.parse(downloads["srt"].get_data(as_text=True)))
    segments = downloads["json"].json["segments"]
    assert len(cues) == len([s for s in segments if s["text"].strip()]) >= 3
    assert "Hello" in cues[0].content
    captions = webvtt.from_buffer(io.StringIO(downloads["vtt"].get_data(as_text=True)))
    assert [c.text for c in captions] == [c.content for c in cues]
    assert downloads["txt"].get_data(as_text=True).splitlines()[0] == segments[0]["text"]

    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    starts = re.findall(r'<li data-start="([0-9.]+)"', page)
    assert [float(s) for s in starts] == [round(s["start"], 3) for s in segments]
    for fmt in ("TXT", "SRT", "VTT", "JSON"):
        assert f"Download {fmt}" in page
    assert f'src="/api/jobs/{job_id}/media"' in page

    failed = client.get(f"/jobs/{failed_id}").get_data(as_text=True)
    assert ">failed<" in failed and "Error:" in failed and "empty" in failed and "Retry" in failed
    assert client.get(f"/api/jobs/{failed_id}/transcript.txt").status_code == 404

    home = app.settings.home
    stored = app.store.get(job_id)
    media_file, outputs_dir = app.spool.root / stored.media_path, app.settings.outputs_dir / job_id
    assert media_file.exists() and outputs_dir.is_dir()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert not media_file.exists() and not outputs_dir.exists()
    assert all(not Path(path).exists() for path in stored.outputs)
    kept = app.store.get(keep_id)
    assert (app.spool.root / kept.media_path).exists() and all(Path(p).exists() for p in kept.outputs)
    assert (home / "spoolscribe.db").exists()
    assert client.get(f"/api/jobs/{job_id}").status_code == 404

    retried = client.post(f"/api/jobs/{failed_id}/retry")
    assert retried.status_code == 200 and retried.json["status"] == "queued" and retried.json["error"] is None


def test_cancelling_a_running_job_keeps_its_partial_transcript(app, client, upload, runners, media):
    job_id = upload(media / "long.wav", "long talk.wav", language="en").json["id"]
    runners("r1", extra_env={"SPOOLSCRIBE_PROGRESS_INTERVAL": "0.2"})

    def under_way():
        job = client.get(f"/api/jobs/{job_id}").json
        return job if job["status"] == "running" and job["processed_seconds"] > 0 else None

    running = wait_for(under_way, 120, what="the runner to report progress")
    assert running["progress"] < 1
    cancelled = client.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"

    done = wait_for(lambda: (job := client.get(f"/api/jobs/{job_id}").json)["outputs"] and job, 60,
                    what="the runner to keep the partial transcript")
    assert done["status"] == "cancelled" and any("partial" in warning for warning in done["warnings"])
    cues = list(srt.parse(client.get(f"/api/jobs/{job_id}/transcript.srt").get_data(as_text=True)))
    assert cues and cues[-1].end.total_seconds() < 180
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert ">cancelled<" in page and "partial" in page and "Retry" in page
