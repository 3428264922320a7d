"""The web with a real runner process and the real model: a finished transcript's downloads and the
job page's lines, and cancelling a running job (the rest with a fake recognizer: test_web_runner_fast.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import srt
import webvtt
from conftest import job_bound, wait_for
from test_web_runner_fast import partial_transcript

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


DATA = Path(__file__).parent / "data"
NAME = "-Interview März (1).wav"
LONG_SECONDS = 180.0
"""long.wav: sample.wav six times."""


def test_a_real_transcript_downloads_and_shows_on_the_job_page(app, client, upload, cli):
    """The real model's output through the web; headers, deleting and retrying are the fast layer's
    (tests/test_web_runner_fast.py)."""
    job_id = upload(DATA / "sample.wav", NAME, language="en").json["id"]
    ran = cli("runner", "--burst", "--name", "web-test")
    assert ran.returncode == 0, ran.stderr

    job = client.get(f"/api/jobs/{job_id}").json
    assert job["status"] == "succeeded" and len(job["outputs"]) == 4
    downloads = {fmt: client.get(f"/api/jobs/{job_id}/transcript.{fmt}") for fmt in ("txt", "srt", "vtt", "json")}
    assert all(response.status_code == 200 for response in downloads.values())
    cues = list(srt.parse(downloads["srt"].get_data(as_text=True)))
    segments = downloads["json"].json["segments"]
    spoken = [s["text"] for s in segments if s["text"].strip()]
    assert len(cues) >= len(spoken) >= 3  # cue shaping may split a long segment into several cues
    assert " ".join(c.content for c in cues).split() == " ".join(spoken).split()
    assert "Hello" in cues[0].content
    captions = webvtt.from_buffer(io.StringIO(downloads["vtt"].get_data(as_text=True)))
    assert [c.text for c in captions] == [c.content for c in cues]
    assert downloads["txt"].get_data(as_text=True).splitlines()[0] == segments[0]["text"]

    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    starts = re.findall(r'<li data-start="([0-9.]+)"', page)
    assert [float(s) for s in starts] == [round(s["start"], 3) for s in segments]


def test_cancelling_a_running_job_keeps_its_partial_transcript(app, client, upload, runners, media):
    job_id = upload(media / "long.wav", "long talk.wav", language="en").json["id"]
    runners("r1", extra_env={"SPOOLSCRIBE_PROGRESS_INTERVAL": "0.2"})

    def under_way():
        job = client.get(f"/api/jobs/{job_id}").json
        return job if job["status"] == "running" and job["processed_seconds"] > 0 else None

    bound = job_bound(app.settings, LONG_SECONDS)
    running = wait_for(under_way, bound, what="the runner to report progress")
    assert running["progress"] < 1
    cancelled = client.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"

    cues = partial_transcript(client, job_id, timeout=bound)  # noticed at the runner's next segment
    assert cues and cues[-1].end.total_seconds() < LONG_SECONDS
