"""The compat service live: a compat gunicorn on loopback, real runner processes with the real model,
and the clients as they are: the official ``openai`` package, and Bazarr's Whisper provider's request
replayed byte for byte (``requests`` with raw s16le PCM in ``audio_file``, credentials in the URL)."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import requests
import srt
from conftest import wait_for

from runner.core.states import ENDED, JobStatus

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
TOKEN = "live-compat-token"
JFK = "ask not what your country can do for you"
STATUS_P99_MS = 250.0  # the status page's target (docs/performance.md)


def _words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def _start_runners(runners, app, *names: str) -> None:
    for name in names:
        runners(name)
    wait_for(lambda: len(app.store.runners()) == len(names), 120, what="the runners' first heartbeats")


@pytest.fixture
def compat_url(web_server, runners, app) -> str:
    """A compat gunicorn (one worker, the token set, uploads up to 8 MiB) and one runner."""
    _start_runners(runners, app, "live1")
    server = web_server("--workers", "1", compat=True,
                        extra_env={"SPOOLSCRIBE_WEB_TOKEN": TOKEN, "SPOOLSCRIBE_MAX_UPLOAD_BYTES": str(8 * 1024**2),
                                   "SPOOLSCRIBE_COMPAT_MODELS": "gpt-4o-transcribe"})
    return server.url


def test_the_official_openai_client_gets_every_format_once(compat_url, app, tmp_path):
    client = openai.OpenAI(api_key=TOKEN, base_url=compat_url + "/v1", max_retries=0, timeout=300)
    with open(DATA / "jfk.flac", "rb") as audio:
        plain = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert JFK in _words(plain.text)
    answers = {}
    for fmt in ("text", "srt", "vtt"):
        with open(DATA / "jfk.flac", "rb") as audio:
            answers[fmt] = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format=fmt)
    assert _words(answers["text"]) == _words(plain.text)
    cues = list(srt.parse(answers["srt"]))
    assert cues and _words(" ".join(cue.content for cue in cues)) == _words(plain.text)
    assert answers["vtt"].startswith("WEBVTT")
    with open(DATA / "jfk.flac", "rb") as audio:
        verbose = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="verbose_json",
                                                     timestamp_granularities=["word", "segment"])
    assert verbose.language == "english" and verbose.duration > 10 and verbose.segments
    assert verbose.words and verbose.words[0].end > verbose.words[0].start
    assert verbose.usage.seconds == verbose.duration
    jobs = app.store.list()
    assert len(jobs) == 1 and jobs[0].source == "openai" and jobs[0].attempts == 1  # five requests, one job

    with open(DATA / "jfk.flac", "rb") as audio:
        translated = client.audio.translations.create(model="whisper-1", file=audio)
    assert translated.text and len(app.store.list()) == 2
    assert [model.id for model in client.models.list()] == ["whisper-1", "gpt-4o-transcribe"]

    with open(DATA / "jfk.flac", "rb") as audio:
        started = time.monotonic()
        events = []
        for event in client.audio.transcriptions.create(model="whisper-1", file=audio, language="en", stream=True):
            events.append((time.monotonic() - started, event))
    kinds = [event.type for _, event in events]
    assert kinds[-1] == "transcript.text.done" and "transcript.text.delta" in kinds
    assert _words("".join(e.delta for _, e in events if e.type == "transcript.text.delta")) == \
        _words(events[-1][1].text)

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="wrong", base_url=compat_url + "/v1", max_retries=0).models.list()
    big = tmp_path / "big.wav"
    big.write_bytes((DATA / "sample.wav").read_bytes() * 10)
    with pytest.raises(openai.APIStatusError) as too_large, open(big, "rb") as audio:
        client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert too_large.value.status_code == 413 and too_large.value.code == "request_too_large"
    with pytest.raises(openai.BadRequestError) as not_audio, open(DATA / "SOURCES.md", "rb") as text:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.mp3", text.read()))
    assert not_audio.value.code == "invalid_file_format"


def test_a_client_retry_after_its_timeout_attaches_to_the_same_job(compat_url, app, media):
    recording = media / "long.wav"  # 180 s: longer to transcribe than the impatient client's three tries
    impatient = openai.OpenAI(api_key=TOKEN, base_url=compat_url + "/v1", max_retries=2, timeout=1.5)
    with pytest.raises(openai.APITimeoutError), open(recording, "rb") as audio:
        impatient.audio.transcriptions.create(model="whisper-1", file=audio)
    patient = openai.OpenAI(api_key=TOKEN, base_url=compat_url + "/v1", max_retries=0, timeout=600)
    with open(recording, "rb") as audio:
        answer = patient.audio.transcriptions.create(model="whisper-1", file=audio)
    assert answer.text
    jobs = app.store.list()
    assert len(jobs) == 1 and jobs[0].attempts == 1 and jobs[0].status == JobStatus.SUCCEEDED.value


def test_bazarr_replayed_byte_for_byte(compat_url, app, cli, tmp_path):
    pcm = tmp_path / "sample.pcm"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / "sample.wav"), "-f", "s16le", "-ac", "1",
                    "-ar", "16000", str(pcm)], check=True, timeout=60)
    status = requests.get(compat_url + "/status", timeout=10)
    assert status.status_code == 200 and status.json()["version"]
    host = compat_url.removeprefix("http://")
    endpoint = f"http://bazarr:{TOKEN}@{host}"  # Bazarr's provider turns URL credentials into Basic
    params = {"task": "transcribe", "language": "en", "output": "srt", "encode": "false"}
    answer = requests.post(f"{endpoint}/asr", params=params, files={"audio_file": pcm.read_bytes()}, timeout=300)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="audio_file.srt"'
    cues = list(srt.parse(answer.text))

    job_id = cli("submit", str(DATA / "sample.wav"), "--language", "en").stdout.strip()
    done = wait_for(lambda: (job := app.store.get(job_id)) and job.status in ENDED and job, 300,
                    what="the normal job")
    normal = next(path for path in done.outputs if path.endswith(".srt"))
    assert [cue.content for cue in cues] == [cue.content for cue in srt.parse(Path(normal).read_text())]

    detected = requests.post(f"{endpoint}/detect-language", params={"encode": "false"},
                             files={"audio_file": pcm.read_bytes()}, timeout=300)
    assert detected.status_code == 200 and detected.json()["language_code"] == "en"
    assert detected.json()["detected_language"] == "english" and 0 <= detected.json()["confidence"] <= 1
    refused = requests.post(f"{compat_url}/asr", params=params, files={"audio_file": pcm.read_bytes()}, timeout=60)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    bad = requests.post(f"{endpoint}/asr", params={**params, "language": "xx"}, files={"audio_file": b"\0" * 3200},
                        timeout=60)
    assert bad.status_code == 400 and bad.json()["error"]["message"]
    with pytest.raises(srt.SRTParseError):
        list(srt.parse(bad.text, ignore_errors=False))


def test_twenty_held_requests_with_two_runners(web_server, runners, app, tmp_path):
    _start_runners(runners, app, "held1", "held2")
    compat = web_server("--workers", "1", compat=True, extra_env={"SPOOLSCRIBE_COMPAT_MAX_WAITING": "24"})
    web = web_server()
    clips = []
    for number in range(10):  # ten different recordings (3 s of speech, then silence of different lengths)
        clip = tmp_path / f"clip{number}.wav"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-t", "3", "-i", str(DATA / "jfk.flac"), "-af",
                        f"apad=pad_dur={0.1 * (number + 1):.1f}", str(clip)], check=True, timeout=60)
        clips.append(clip)
    client = openai.OpenAI(api_key="none", base_url=compat.url + "/v1", max_retries=0, timeout=600)

    def ask(clip: Path) -> str:
        with open(clip, "rb") as audio:
            return client.audio.transcriptions.create(model="whisper-1", file=audio).text

    latencies: list[float] = []
    done = threading.Event()

    def poll_status() -> None:
        while not done.is_set() and len(latencies) < 5000:
            started = time.monotonic()
            with urllib.request.urlopen(web.url + "/", timeout=10) as page:
                page.read()
            latencies.append((time.monotonic() - started) * 1000)
            time.sleep(0.05)

    poller = threading.Thread(target=poll_status)
    poller.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            texts = list(pool.map(ask, clips * 2))
    finally:
        done.set()
        poller.join(timeout=30)
    assert len(texts) == 20 and all(texts)
    jobs = app.store.list(limit=100)
    assert len(jobs) == 10 and all(job.attempts == 1 and job.status == "succeeded" for job in jobs)
    assert {job.runner for job in jobs} == {"held1", "held2"}
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert len(latencies) >= 20 and p99 <= STATUS_P99_MS, (p99, len(latencies))


def test_a_client_that_leaves_gives_its_slot_back_and_its_job_goes_on(web_server, runners, app):
    _start_runners(runners, app, "leave1")
    compat = web_server("--workers", "1", compat=True, extra_env={"SPOOLSCRIBE_COMPAT_MAX_WAITING": "1"})
    leaving = openai.OpenAI(api_key="none", base_url=compat.url + "/v1", max_retries=0, timeout=2)
    with pytest.raises(openai.APITimeoutError), open(DATA / "sample.wav", "rb") as audio:
        leaving.audio.transcriptions.create(model="whisper-1", file=audio)
    time.sleep(2.5)  # the server notices within a second that the client has gone
    staying = openai.OpenAI(api_key="none", base_url=compat.url + "/v1", max_retries=0, timeout=300)
    with open(DATA / "jfk.flac", "rb") as audio:  # held in the freed slot (a 503 would raise)
        assert JFK in _words(staying.audio.transcriptions.create(model="whisper-1", file=audio).text)
    left = next(job for job in app.store.list() if job.original_name == "sample.wav")
    done = wait_for(lambda: (job := app.store.get(left.id)) and job.status in ENDED and job, 300,
                    what="the left job to end")
    assert done.status == JobStatus.SUCCEEDED.value  # leaving did not cancel it


def test_spoolscribe_compat_serves_on_the_address_given(env, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(tmp_path / "compat.log", "wb") as log:
        server = subprocess.Popen([str(Path(sys.executable).with_name("spoolscribe")), "compat", "--bind",
                                   f"127.0.0.1:{port}", "--workers", "1", "--max-waiting", "2"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def status():
            try:
                return requests.get(f"http://127.0.0.1:{port}/status", timeout=5).json()
            except (requests.RequestException, ValueError):
                return None

        assert wait_for(status, 60, interval=0.3, what="spoolscribe compat to answer")["service"] == "spoolscribe"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0, (tmp_path / "compat.log").read_text()


def test_diarized_json_comes_from_the_diarization_pipeline(web_server, runners, app, tmp_path):
    from untrained_pipeline import write_untrained_pipeline  # imports torch: only where this test runs

    pipeline = write_untrained_pipeline(tmp_path / "diarization", segmentation_step=0.5)
    diarizing = {"SPOOLSCRIBE_DIARIZATION_PIPELINE": str(pipeline)}
    runners("speakers", extra_env=diarizing)
    wait_for(lambda: app.store.runners(), 120, what="the runner's first heartbeat")
    server = web_server("--workers", "1", compat=True, extra_env=diarizing)
    client = openai.OpenAI(api_key="unused", base_url=server.url + "/v1", max_retries=0, timeout=600)
    with open(DATA / "sample.wav", "rb") as audio:
        raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=audio,
                                                                   response_format="diarized_json")
    document = raw.http_response.json()
    assert raw.http_response.status_code == 200 and document["task"] == "transcribe"
    assert document["duration"] == pytest.approx(30.0, abs=0.1) and "Diane" in document["text"]
    segments = document["segments"]
    assert segments and all(s["type"] == "transcript.text.segment" and s["start"] <= s["end"] for s in segments)
    # speakers named A, B, ... in order of first appearance (the untrained pipeline's turns are arbitrary)
    first_seen = list(dict.fromkeys(s["speaker"] for s in segments))
    assert first_seen == [chr(ord("A") + i) for i in range(len(first_seen))]
    job = app.store.list(limit=1)[0]
    assert job.options["diarize"] is True and job.status == JobStatus.SUCCEEDED and job.warnings == [], job.warnings
