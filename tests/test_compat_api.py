"""The compat service in process (the real Flask app of ``webui.compat`` on a migrated database, the
real spool and probe): access control, the error shapes the clients map, the bounds, raw PCM taken as
WAV, one job per identical request (also when sent at the same moment), and the watcher waking a
waiting request. Live servers, runners and the official client: tests/test_compat_live.py."""

from __future__ import annotations

import base64
import io
import subprocess
import threading
import time
import wave
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from runner.cli.app import App
from runner.core.languages import LANGUAGE_NAMES
from runner.core.options import LANGUAGES, JobOptions
from runner.core.schema import JobSource, JobStatus
from runner.core.transcript import Segment, Transcript, Turn, Word
from runner.jobs.once import REQUESTS_DIR, request_key, submit_once
from runner.jobs.retention import sweep
from runner.jobs.submit import submit_path
from webui.compat import create_app
from webui.compat.answers import diarized_json, speaker_letters, to_tsv, verbose_json
from webui.compat.waiting import Watcher

DATA = Path(__file__).parent / "data"
TOKEN = "s3cret-token-for-compat"


@pytest.fixture
def compat(app: App):
    """A test client of the compat app on this test's data root; ``compat.app`` is the App."""

    def make(**overrides):
        client = create_app(app.settings.with_overrides(**overrides)).test_client()
        client.spoolscribe = app  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def pcm(tmp_path: Path) -> bytes:
    """jfk.flac as Bazarr sends it: raw s16le, 16 kHz, mono, no header (ffmpeg)."""
    out = tmp_path / "jfk.pcm"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / "jfk.flac"), "-f", "s16le", "-ac", "1",
                    "-ar", "16000", str(out)], check=True, timeout=60)
    return out.read_bytes()


def _alive(app: App) -> None:
    """A runner's heartbeat, as a live runner writes it (so requests may make jobs)."""
    app.store.heartbeat("compat-test", "idle", None, datetime.utcnow())


def _audio(field: str = "file", data: bytes | None = None, name: str = "jfk.flac", **fields):
    return {field: (io.BytesIO(data if data is not None else (DATA / "jfk.flac").read_bytes()), name), **fields}


def test_status_is_open_and_everything_else_needs_the_token(compat):
    client = compat(web_token=TOKEN)
    status = client.get("/status")
    assert status.status_code == 200 and status.json["version"]
    refused = client.get("/v1/models")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    basic = base64.b64encode(f"bazarr:{TOKEN}".encode()).decode()
    assert client.get("/v1/models", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert client.post("/asr?output=srt", data=_audio("audio_file")).status_code == 401


def test_models_list_whisper_1_and_the_alias_table(compat):
    listed = compat(compat_models=("gpt-4o-transcribe=small", "medium")).get("/v1/models").json
    assert listed["object"] == "list"
    assert [model["id"] for model in listed["data"]] == ["whisper-1", "gpt-4o-transcribe", "medium"]
    assert all(set(model) == {"id", "object", "created", "owned_by"} and model["object"] == "model"
               for model in listed["data"])


def test_errors_are_json_with_the_statuses_the_clients_map(compat, media):
    client = compat(max_upload_bytes=100_000)
    _alive(client.spoolscribe)
    big = client.post("/v1/audio/transcriptions", data=_audio(data=b"\0" * 300_000, model="whisper-1"),
                      content_type="multipart/form-data")
    assert big.status_code == 413 and big.json["error"]["code"] == "request_too_large"
    client = compat()
    text = client.post("/v1/audio/transcriptions", data=_audio(data=(media / "notes.mp3").read_bytes(),
                                                               name="notes.mp3", model="whisper-1"))
    assert text.status_code == 400 and text.json["error"]["code"] == "invalid_file_format"
    assert text.json["error"]["param"] == "file" and text.headers["x-should-retry"] == "false"
    wrong = client.post("/v1/audio/transcriptions", data=_audio(model="whisper-1", response_format="docx"))
    assert wrong.status_code == 400 and wrong.json["error"]["param"] == "response_format"
    language = client.post("/v1/audio/transcriptions", data=_audio(model="whisper-1", language="xx"))
    assert language.status_code == 400 and language.json["error"]["param"] == "language"
    bazarr = client.post("/asr?output=srt&language=klingon", data=_audio("audio_file"))
    assert bazarr.status_code == 400 and bazarr.is_json and "language" in bazarr.json["error"]["message"]
    diarized = client.post("/v1/audio/transcriptions", data=_audio(model="whisper-1", response_format="diarized_json"))
    assert diarized.status_code == 400 and diarized.json["error"]["param"] == "response_format"
    assert "diarization" in diarized.json["error"]["message"]
    assert client.get("/nowhere").json["error"]["message"]
    assert client.spoolscribe.store.list() == []


def test_no_runner_alive_is_503_with_retry_after_and_no_job(compat):
    client = compat()
    answer = client.post("/v1/audio/transcriptions", data=_audio(model="whisper-1"))
    assert answer.status_code == 503 and answer.json["error"]["code"] == "no_runner"
    assert int(answer.headers["Retry-After"]) > 0
    assert client.spoolscribe.store.list() == []


def test_beyond_the_held_bound_is_503_at_once(compat):
    client = compat(compat_max_waiting=0)
    started = time.monotonic()
    answer = client.post("/asr?output=srt", data=_audio("audio_file"))
    assert answer.status_code == 503 and answer.json["error"]["code"] == "server_busy"
    assert answer.headers["Retry-After"] and time.monotonic() - started < 5


def test_identical_requests_make_one_job_and_pcm_is_kept_as_wav(compat, pcm):
    client = compat()
    app = client.spoolscribe
    _alive(app)
    ids = set()
    for _ in range(2):
        answer = client.post("/asr?encode=false&task=transcribe&language=en&output=srt",
                             data=_audio("audio_file", pcm, "audio_file"), headers={"Prefer": "respond-async"})
        assert answer.status_code == 202, answer.json
        assert answer.headers["Location"] == f"/api/jobs/{answer.json['id']}"
        ids.add(answer.json["id"])
    assert len(ids) == 1 and len(app.store.list()) == 1
    job = app.store.get(ids.pop())
    assert job.source == JobSource.BAZARR.value and job.options["language"] == "en"
    assert client.get(f"/api/jobs/{job.id}").json["status"] == "queued"
    with wave.open(str(app.spool.media_path(job.media_path)), "rb") as stored:
        assert (stored.getnchannels(), stored.getsampwidth(), stored.getframerate()) == (1, 2, 16000)
        assert stored.getnframes() == len(pcm) // 2
    other = client.post("/asr?encode=false&task=translate&output=srt", data=_audio("audio_file", pcm, "audio_file"),
                        headers={"Prefer": "respond-async"})
    detect = client.post("/detect-language?encode=false", data=_audio("audio_file", pcm, "audio_file"),
                         headers={"Prefer": "respond-async"})
    encoded = client.post("/asr?output=vtt", data=_audio("audio_file"), headers={"Prefer": "respond-async"})
    assert encoded.status_code == 202 and app.store.get(encoded.json["id"]).original_name == "jfk.flac"
    assert len({other.json["id"], detect.json["id"], encoded.json["id"], job.id}) == 4
    assert app.store.get(detect.json["id"]).options["task"] == "detect"
    assert not list(app.spool.tmp.iterdir())


def test_a_failed_job_is_replaced_by_the_next_identical_request(app: App):
    options = JobOptions(language="en")
    key = request_key("ab" * 32, options)
    first, created = submit_once(app.store, app.spool, app.settings.home, key, DATA / "jfk.flac", options,
                                 kind=JobSource.OPENAI, original_name="jfk.flac")
    assert created
    app.store.cancel(first.id)
    second, created = submit_once(app.store, app.spool, app.settings.home, key, DATA / "jfk.flac", options,
                                  kind=JobSource.OPENAI, original_name="jfk.flac")
    assert created and second.id != first.id
    again, created = submit_once(app.store, app.spool, app.settings.home, key, DATA / "jfk.flac", options,
                                 kind=JobSource.OPENAI, original_name="jfk.flac")
    assert not created and again.id == second.id


def test_retention_forgets_the_request_keys_of_deleted_jobs(app: App):
    options = JobOptions()
    kept, _ = submit_once(app.store, app.spool, app.settings.home, request_key("ee" * 32, options),
                          DATA / "jfk.flac", options, kind=JobSource.OPENAI, original_name="jfk.flac")
    ended, _ = submit_once(app.store, app.spool, app.settings.home, request_key("ff" * 32, options),
                           DATA / "jfk.flac", options, kind=JobSource.OPENAI, original_name="jfk.flac")
    app.store.cancel(ended.id)
    sweep(app.store, app.spool, app.settings, "test", now=datetime.utcnow() + timedelta(days=1),
          older_than=timedelta(hours=1))
    assert app.store.get(ended.id) is None and app.store.get(kept.id) is not None
    keys = {path.read_text() for path in (app.settings.home / REQUESTS_DIR).iterdir() if path.name != ".lock"}
    assert keys == {kept.id}


def test_requests_at_the_same_moment_make_one_job(app: App):
    options = JobOptions()
    key = request_key("cd" * 32, options)
    results, barrier = [], threading.Barrier(8)

    def send() -> None:
        barrier.wait(timeout=10)
        results.append(submit_once(app.store, app.spool, app.settings.home, key, DATA / "jfk.flac", options,
                                   kind=JobSource.OPENAI, original_name="jfk.flac"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8 and len({job.id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1 and len(app.store.list()) == 1


def test_the_watcher_wakes_a_waiting_request_when_its_job_changes(app: App):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions(), kind=JobSource.OPENAI)
    watcher = Watcher(app.store.engine, capacity=4, interval=0.05)
    first = watcher.wait(job.id, None, timeout=5)
    assert first is not None and first.status == "queued" and not first.ended
    assert watcher.wait(job.id, first, timeout=0.3) == first  # nothing changed: back at the timeout
    threading.Timer(0.2, lambda: app.store.claim(job.id, "r1", 60)).start()
    started = time.monotonic()
    changed = watcher.wait(job.id, first, timeout=10)
    assert changed is not None and changed.status == JobStatus.RUNNING.value and time.monotonic() - started < 5
    app.store.finish(job.id, "r1", JobStatus.SUCCEEDED)
    assert watcher.wait(job.id, changed, timeout=10).ended
    time.sleep(0.2)  # the watcher has nothing to watch and sleeps until a request waits again
    started = time.monotonic()
    again = watcher.wait(job.id, None, timeout=10)
    assert again is not None and again.ended and time.monotonic() - started < 5


def test_answers_in_openai_and_whisper_shapes():
    words = (Word(0.0, 0.5, " Hello", 0.9, "SPEAKER_01"), Word(0.5, 1.0, " there", 0.8, "SPEAKER_01"))
    transcript = Transcript("en", 0.99, 3.0, (Segment(0.0, 1.0, "Hello there", words, "SPEAKER_01"),
                                              Segment(1.5, 2.5, "Hi\tyou", (), "Ann"),
                                              Segment(2.5, 3.0, "Bye", (), "SPEAKER_00")),
                            (Turn(0.0, 1.0, "SPEAKER_01"), Turn(1.5, 2.5, "Ann"), Turn(2.5, 3.0, "SPEAKER_00")))
    verbose = verbose_json(transcript, "transcribe", words=True)
    assert verbose["language"] == "english" and verbose["duration"] == 3.0
    assert verbose["usage"] == {"type": "duration", "seconds": 3.0}
    assert [w["word"] for w in verbose["words"]] == ["Hello", "there"]
    assert set(verbose["segments"][0]) == {"id", "seek", "start", "end", "text", "tokens", "temperature",
                                           "avg_logprob", "compression_ratio", "no_speech_prob"}
    assert "words" not in verbose_json(transcript, "transcribe", words=False)
    assert speaker_letters(transcript) == {"SPEAKER_01": "A", "SPEAKER_00": "B"}
    assert [s["speaker"] for s in diarized_json(transcript)["segments"]] == ["A", "Ann", "B"]
    assert to_tsv(transcript).splitlines() == ["start\tend\ttext", "0\t1000\tHello there", "1500\t2500\tHi you",
                                               "2500\t3000\tBye"]


def test_every_whisper_language_has_its_name():
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)
    for code in ("haw", "jw", "la", "sa", "ba", "ln"):
        assert JobOptions(language=code).language == code
