"""The JSON API through the real Flask app on a migrated SQLite file: every endpoint, every error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner.core.options import JobOptions
from runner.core.settings import Settings
from runner.core.states import JobStatus
from runner.jobs.submit import submit_path
from webui import create_app

DATA = Path(__file__).parent / "data"
UNICODE_NAME = "-Interview März (Ünïcødé) 東京.wav"


def spool_files(app) -> dict[str, list[str]]:
    """What the spool holds, per directory that a delivery touches."""
    return {sub: sorted(p.name for p in (app.spool.root / sub).iterdir()) for sub in ("tmp", "new", "media")}


def test_upload_queues_a_job_with_location_and_keeps_the_original_name(app, upload):
    response = upload(DATA / "sample.wav", UNICODE_NAME, language="en", formats="srt,json",
                      initial_prompt="Diane, Sheila")
    assert response.status_code == 201, response.json
    job = response.json
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["status"] == "queued" and job["source"] == "upload"
    assert job["file_name"] == UNICODE_NAME
    assert job["options"]["language"] == "en" and job["options"]["formats"] == ["srt", "json"]
    assert job["options"]["initial_prompt"] == "Diane, Sheila"
    stored = app.store.get(job["id"])
    assert stored.original_name == UNICODE_NAME and stored.media_path == f"media/{job['id']}.wav"
    assert (app.spool.root / stored.media_path).read_bytes() == (DATA / "sample.wav").read_bytes()
    assert spool_files(app) == {"tmp": [], "new": [f"{job['id']}.json"], "media": [f"{job['id']}.wav"]}


def test_list_filters_pages_and_validates(app, client):
    ids = [submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions()).id for _ in range(3)]
    client.post(f"/api/jobs/{ids[0]}/cancel")
    first = client.get("/api/jobs?limit=2").json
    assert [job["id"] for job in first["jobs"]] == [ids[2], ids[1]]
    assert first["next_before"] == ids[1] and first["counts"]["queued"] == 2
    rest = client.get(f"/api/jobs?limit=2&before={first['next_before']}").json
    assert [job["id"] for job in rest["jobs"]] == [ids[0]] and rest["next_before"] is None
    cancelled = client.get("/api/jobs?status=cancelled").json["jobs"]
    assert [job["id"] for job in cancelled] == [ids[0]]
    for query, words in [("status=done", "unknown status"), ("limit=0", "limit"), ("limit=x", "limit"),
                         ("limit=201", "limit"), ("before=nope", "before")]:
        response = client.get(f"/api/jobs?{query}")
        assert response.status_code == 400 and words in response.json["error"], query


def test_get_job_by_id_in_any_case_and_404(app, client):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    assert client.get(f"/api/jobs/{job.id}").json["id"] == job.id
    assert client.get(f"/api/jobs/{job.id.lower()}").json["id"] == job.id
    for missing in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-an-id"):
        response = client.get(f"/api/jobs/{missing}")
        assert response.status_code == 404 and "no job with id" in response.json["error"]
    assert client.get("/api/nothing-here").status_code == 404
    assert client.get("/api/nothing-here").json["error"]


def test_cancel_retry_delete_of_a_queued_job(app, client):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    pending = app.spool.new / f"{job.id}.json"
    assert client.post(f"/api/jobs/{job.id}/retry").status_code == 409
    refused = client.delete(f"/api/jobs/{job.id}")
    assert refused.status_code == 409 and "cancel it" in refused.json["error"]

    cancelled = client.post(f"/api/jobs/{job.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert not pending.exists(), "a cancelled queued job is withdrawn from the spool at once"
    assert client.post(f"/api/jobs/{job.id}/cancel").status_code == 409

    retried = client.post(f"/api/jobs/{job.id}/retry")
    assert retried.status_code == 200 and retried.json["status"] == "queued" and pending.exists()

    client.post(f"/api/jobs/{job.id}/cancel")
    media = app.spool.root / job.media_path
    assert media.exists()
    assert client.delete(f"/api/jobs/{job.id}").status_code == 204
    assert app.store.get(job.id) is None and not media.exists()
    assert client.delete(f"/api/jobs/{job.id}").status_code == 404
    assert client.post(f"/api/jobs/{job.id}/cancel").status_code == 404
    assert client.post(f"/api/jobs/{job.id}/retry").status_code == 404


def test_retry_refused_when_the_media_is_gone(app, client):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    client.post(f"/api/jobs/{job.id}/cancel")
    (app.spool.root / job.media_path).unlink()
    response = client.post(f"/api/jobs/{job.id}/retry")
    assert response.status_code == 409 and "upload the file again" in response.json["error"]


@pytest.mark.parametrize("fields, words", [
    ({"language": "klingon"}, "unknown language"),
    ({"task": "summarize"}, "task must be"),
    ({"formats": "docx"}, "unknown output format"),
    ({"model": "large-v3"}, "not offered here"),
    ({"vad_filter": "maybe"}, "true or false"),
    ({"colour": "blue"}, "unknown option(s) colour"),
])
def test_bad_options_are_400_and_leave_nothing(app, upload, fields, words):
    response = upload(DATA / "jfk.flac", **fields)
    assert response.status_code == 400 and words in response.json["error"]
    assert spool_files(app) == {"tmp": [], "new": [], "media": []}


def test_allowed_models_are_accepted(env, upload, tmp_path):
    web = create_app(Settings.from_env(env, web_models=("tiny.en", "small")))
    response = upload(DATA / "jfk.flac", via=web.test_client(), model="small")
    assert response.status_code == 201 and response.json["options"]["model"] == "small"


def test_requests_without_a_usable_file_are_400(app, client, upload):
    assert "no file" in client.post("/api/jobs", data={"language": "en"},
                                    content_type="multipart/form-data").json["error"]
    with open(DATA / "jfk.flac", "rb") as one, open(DATA / "sample.wav", "rb") as two:
        both = client.post("/api/jobs", data={"file": [(one, "a.flac"), (two, "b.wav")]},
                           content_type="multipart/form-data")
    assert both.status_code == 400 and "one file per request" in both.json["error"]
    garbled = client.post("/api/jobs", data=b"--x\r\nnonsense", content_type="multipart/form-data; boundary=x")
    assert garbled.status_code == 400
    assert spool_files(app) == {"tmp": [], "new": [], "media": []}


def test_not_multipart_is_415(client):
    response = client.post("/api/jobs", json={"file": "sample.wav"})
    assert response.status_code == 415 and "multipart/form-data" in response.json["error"]


@pytest.mark.parametrize("name, words", [
    ("video.mp4", "no audio stream"),
    ("notes.mp3", "not an audio or video file"),
    ("empty.wav", "empty"),
])
def test_files_without_decodable_audio_are_415_and_leave_nothing(app, upload, media, name, words):
    response = upload(media / name)
    assert response.status_code == 415
    assert response.json["error"].startswith(f"{name}: ") and words in response.json["error"]
    assert spool_files(app) == {"tmp": [], "new": [], "media": []}
    assert app.store.list() == []


def test_upload_over_the_limit_is_413_and_leaves_nothing(env, app, upload, media):
    web = create_app(Settings.from_env(env, max_upload_bytes=500_000)).test_client()
    # Declared Content-Length above limit + overhead: refused before the body is read.
    early = upload(media / "long.wav", via=web)
    # Declared length within the overhead allowance: refused while the file streams in.
    streamed = upload(DATA / "sample.wav", via=web)
    for response in (early, streamed):
        assert response.status_code == 413
        assert "larger than this server accepts (488.3 KiB" in response.json["error"]
    assert spool_files(app) == {"tmp": [], "new": [], "media": []}
    assert app.store.list() == []


def test_transcript_of_an_unfinished_job_and_unknown_formats(app, client):
    job = submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions(formats=("txt",)))
    waiting = client.get(f"/api/jobs/{job.id}/transcript.srt")
    assert waiting.status_code == 409 and "queued" in waiting.json["error"]
    assert client.get(f"/api/jobs/{job.id}/transcript.docx").status_code == 404
    client.post(f"/api/jobs/{job.id}/cancel")
    missing = client.get(f"/api/jobs/{job.id}/transcript.srt")
    assert missing.status_code == 404 and "no srt transcript" in missing.json["error"]


def test_media_supports_ranges(app, client):
    job = submit_path(app.store, app.spool, DATA / "sample.wav", JobOptions())
    whole = (DATA / "sample.wav").read_bytes()
    response = client.get(f"/api/jobs/{job.id}/media", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206 and response.data == whole[100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert response.headers["Accept-Ranges"] == "bytes"
    (app.spool.root / job.media_path).unlink()
    assert client.get(f"/api/jobs/{job.id}/media").status_code == 404


def test_health_reports_queue_and_runner_heartbeats(app, client):
    submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions())
    app.store.heartbeat("runner-a", "idle", None, app.store.now())
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json
    assert body["database"] == "ok" and body["queue_depth"] == 1 and body["runners_alive"] == 1
    (runner,) = body["runners"]
    assert runner["name"] == "runner-a" and runner["alive"] and 0 <= runner["heartbeat_age_seconds"] < 5


def test_health_is_503_when_the_database_is_unreadable(app, client):
    database = Path(app.settings.database_url.split("///", 1)[1])
    with sqlite3.connect(database) as connection:  # another process drops the schema
        connection.execute("DROP TABLE segments")
        connection.execute("DROP TABLE jobs")
    response = client.get("/healthz")
    assert response.status_code == 503 and "database unreachable" in response.json["error"]


def test_wrong_method_is_a_json_405(client):
    response = client.put("/api/jobs")
    assert response.status_code == 405 and response.json["error"]
    assert "POST" in response.headers["Allow"]


def test_responses_carry_security_headers(client):
    response = client.get("/api/jobs")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert JobStatus.QUEUED.value in response.json["counts"]


def test_openapi_file_is_served_and_describes_every_api_route(web_app, client):
    import re

    import yaml

    response = client.get("/static/openapi.yaml")
    assert response.status_code == 200
    document = yaml.safe_load(response.data)
    documented = {(re.sub(r"\{[^}]+\}", "{}", path), method.upper())
                  for path, item in document["paths"].items() for method in item if method != "parameters"}
    routes = {(re.sub(r"<[^>]+>", "{}", rule.rule), method) for rule in web_app.url_map.iter_rules()
              if rule.rule.startswith(("/api/", "/healthz")) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented


def test_a_probe_that_does_not_finish_in_time_refuses_the_file():
    from webui.probe import MediaRefused, probe_upload

    assert probe_upload(DATA / "jfk.flac") == pytest.approx(11.0, abs=0.1)
    with pytest.raises(MediaRefused, match="could not be read as media within"):
        probe_upload(DATA / "jfk.flac", timeout=0.001)
