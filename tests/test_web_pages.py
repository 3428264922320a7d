"""The pages through the real Flask app: what a person sees, the forms and their CSRF tokens."""

from __future__ import annotations

import re
from pathlib import Path

from runner.core.options import JobOptions
from runner.jobs.submit import submit_path

DATA = Path(__file__).parent / "data"


def csrf_of(page: bytes) -> str:
    """The CSRF token a page carries (meta tag and hidden fields hold the same one)."""
    return re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()


def submit(app, name: str = "jfk.flac", **options):
    return submit_path(app.store, app.spool, DATA / "jfk.flac", JobOptions(**options), original_name=name)


def test_empty_jobs_page_explains_itself(client):
    page = client.get("/").get_data(as_text=True)
    assert "No jobs yet." in page and "spoolscribe submit FILE" in page
    assert "no runner is alive" in page
    assert "No failed jobs." in client.get("/?status=failed").get_data(as_text=True)
    assert client.get("/?status=bogus").status_code == 400


def test_jobs_page_lists_newest_first_filters_and_pages(app, client):
    jobs = [submit(app, f"talk <{number}> & more.flac") for number in range(52)]
    client.post(f"/api/jobs/{jobs[0].id}/cancel")
    app.store.heartbeat("runner-a", "idle", None, app.store.now())
    page = client.get("/").get_data(as_text=True)
    assert page.count('<tr id="job-') == 50
    assert page.index("talk &lt;51&gt; &amp; more.flac") < page.index("talk &lt;50&gt;")
    assert "talk &lt;1&gt;" not in page and "51</b> queued" in page and "runner-a idle" in page
    older = re.search(r'href="(/\?before=[0-9A-Z]{26})">older jobs', page).group(1)
    rest = client.get(older).get_data(as_text=True)
    assert rest.count('<tr id="job-') == 2 and "older jobs" not in rest and "← newest" in rest
    cancelled = client.get("/?status=cancelled").get_data(as_text=True)
    assert cancelled.count('<tr id="job-') == 1 and "talk &lt;0&gt;" in cancelled


def test_live_fragments_of_the_jobs_and_job_pages(app, client):
    job = submit(app)
    jobs = client.get("/live/jobs").json
    assert jobs["active"] is True and job.id in jobs["html"]["job-rows"] and "queued" in jobs["html"]["summary"]
    one = client.get(f"/live/jobs/{job.id}").json
    assert one["status"] == "queued" and one["active"] is True and "Waiting for a runner" in one["html"]["job-state"]
    client.post(f"/api/jobs/{job.id}/cancel")
    assert client.get(f"/live/jobs/{job.id}").json["active"] is False
    assert client.get("/live/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


def test_running_job_shows_progress_and_eta(app, client):
    job = submit(app)
    assert app.store.claim(job.id, "runner-a", 60)
    assert app.store.record_progress(job.id, "runner-a", stage="transcribing", duration=100.0,
                                     processed_seconds=25.0, progress=0.25)
    row = client.get("/live/jobs").json["html"]["job-rows"]
    assert '<progress value="0.2500" max="1">' in row and "25%" in row and "ETA" in row
    state = client.get(f"/live/jobs/{job.id}").json["html"]["job-state"]
    assert "0:25 of 1:40" in state and "Cancel" in state


def test_upload_form_offers_the_options(env, client):
    page = client.get("/upload").get_data(as_text=True)
    for text in ('name="file"', "multiple", 'value="auto"', 'value="de"', 'value="translate"',
                 'name="formats" value="vtt"', 'name="initial_prompt"', 'name="hotwords"', "at most 2.0 GiB"):
        assert text in page, text
    assert 'name="model"' not in page, "without SPOOLSCRIBE_WEB_MODELS only the default exists"


def test_upload_form_post_queues_every_file(app, client):
    token = csrf_of(client.get("/upload").data)
    with open(DATA / "jfk.flac", "rb") as one, open(DATA / "sample.wav", "rb") as two:
        form = {"csrf_token": token, "language": "auto", "task": "transcribe", "formats": ["txt", "srt"],
                "file": [(one, "a b.flac"), (two, "ü.wav")]}
        response = client.post("/upload", data=form, content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Queued 2 files: a b.flac, ü.wav" in page
    assert sorted(job.original_name for job in app.store.list()) == ["a b.flac", "ü.wav"]
    assert all(job.options["formats"] == ["txt", "srt"] for job in app.store.list())


def test_upload_form_without_csrf_token_is_refused_and_leaves_nothing(app, client, upload):
    response = upload(DATA / "jfk.flac", url="/upload")
    assert response.status_code == 400 and "did not come from this site" in response.get_data(as_text=True)
    assert list(app.spool.tmp.iterdir()) == [] and list(app.spool.media.iterdir()) == []


def test_upload_form_errors_are_pages_that_explain(client, upload, media):
    token = csrf_of(client.get("/upload").data)
    response = upload(media / "video.mp4", url="/upload", csrf_token=token)
    assert response.status_code == 415
    page = response.get_data(as_text=True)
    assert "<h1>415 Unsupported Media Type</h1>" in page and "no audio stream" in page


def test_job_page_cancel_retry_and_delete_with_confirmation(app, client):
    job = submit(app, "Interview März.flac")
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "Interview März.flac" in page and "Not transcribed yet" in page and 'id="player"' in page
    token = csrf_of(page.encode())
    assert client.post(f"/jobs/{job.id}/cancel").status_code == 400, "a form post needs its CSRF token"

    cancelled = client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    text = cancelled.get_data(as_text=True)
    assert "Cancelled." in text and ">cancelled<" in text and "Retry" in text and "Delete…" in text

    retried = client.post(f"/jobs/{job.id}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "Queued again from the start." in retried.get_data(as_text=True)
    assert client.post(f"/jobs/{job.id}/delete", data={"csrf_token": token}).status_code == 409

    client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token})
    confirm = client.get(f"/jobs/{job.id}/delete").get_data(as_text=True)
    assert "Delete this job?" in confirm and "cannot be undone" in confirm
    deleted = client.post(f"/jobs/{job.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Deleted Interview März.flac and its files." in deleted.get_data(as_text=True)
    assert app.store.get(job.id) is None


def test_unknown_job_page_is_a_404_page(client):
    response = client.get("/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert response.status_code == 404
    assert "it may have been deleted" in response.get_data(as_text=True)
    assert response.content_type.startswith("text/html")
