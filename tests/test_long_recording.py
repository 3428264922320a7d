"""A recording longer than an hour: timestamps past 1 h in every format, steady progress, bounded memory."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import srt
import webvtt
from conftest import DATA
from cue_checks import check_files

from runner.output.cues import CueLimits

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


MINUTES = 65


@pytest.fixture(scope="module")
def hour_long(tmp_path_factory) -> Path:
    """sample.wav looped to 65 minutes (16 kHz mono PCM, about 125 MB)."""
    path = tmp_path_factory.mktemp("long") / "meeting.wav"
    loops = MINUTES * 2 - 1
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(loops), "-i", str(DATA / "sample.wav"),
                    "-c", "copy", str(path)], check=True, timeout=120)
    return path


def peak_rss_bytes(pid: int) -> int:
    """VmHWM of a live process: its peak resident set size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_65_minute_recording(hour_long, cli, app, runners):
    job_id = cli("submit", str(hour_long)).stdout.strip()
    runner = runners("long", "--threads", "2")
    progress = []
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        job = app.store.get(job_id)
        if job.status != "queued" and (not progress or job.progress != progress[-1]):
            progress.append(job.progress)
        if job.status in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    job = app.store.get(job_id)
    assert job.status == "succeeded", job.error
    peak = peak_rss_bytes(runner.pid)
    runner.terminate()
    assert runner.wait(timeout=30) == 0
    assert progress == sorted(progress) and progress[-1] == 1.0  # monotonic
    assert len(progress) > 50  # updates all along, not just at the end (gap figures: bench/long_recording.py)
    # The decoded hour (about 250 MB, twice while it is joined) plus one 15-minute window's
    # spectrogram: about 1.5 GiB. Without windows, faster-whisper's whole-file spectrogram took 3.5 GiB.
    assert peak < 2 * 2**30, f"runner peak RSS {peak / 2**20:.0f} MiB"
    files = {Path(p).suffix: Path(p) for p in job.outputs}
    document = json.loads(files[".json"].read_text())
    segments = [s for s in document["segments"] if s["text"]]
    assert abs(document["duration"] - MINUTES * 60) < 1 and segments[-1]["end"] > 3600
    # subtitles read like subtitles: every cue within the limits, no word lost or duplicated
    words = [w["word"].strip() for s in segments for w in s["words"] if w["word"].strip()]
    check_files(files[".srt"], files[".vtt"], words, CueLimits(), document["duration"])
    cues = list(srt.parse(files[".srt"].read_text()))
    assert len(cues) >= len(segments) and cues[-1].start.total_seconds() > 3600
    captions = webvtt.read(str(files[".vtt"]))
    assert captions[-1].start.startswith("01:0")
    last_line = files[".txt"].read_text().splitlines()[-1]
    assert last_line == segments[-1]["text"]
