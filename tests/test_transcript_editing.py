"""Editing a finished job's transcript: a segment's text saved into every output (parsed back with
srt and webvtt-py) and the index, optimistic concurrency (409 with the current text), 409 while the
job runs, versions and revert, auth and CSRF, and a failed rewrite that leaves every old output."""

from __future__ import annotations

import errno
import io
import json
import re
from pathlib import Path

import srt
import webvtt
from conftest import DATA, at_once, both_stores

PAGE = 4096
SAYINGS = ["Good morning, this is Ana from Berlin.", "We met Mr. Schmit yesterday.", "Thanks for coming."]


def outputs(job) -> dict[str, str]:
    return {Path(path).suffix[1:]: Path(path).read_text(encoding="utf-8") for path in job.outputs}


def texts(client, job_id: str) -> dict[str, list[str]]:
    """The segment texts as each output says them, parsed with the formats' own libraries."""
    get = {fmt: client.get(f"/api/jobs/{job_id}/transcript.{fmt}").get_data(as_text=True)
           for fmt in ("txt", "srt", "vtt", "json")}
    return {"txt": get["txt"].splitlines(),
            "srt": [cue.content.replace("\n", " ") for cue in srt.parse(get["srt"])],
            "vtt": [cue.text.replace("\n", " ") for cue in webvtt.from_buffer(io.StringIO(get["vtt"]))],
            "json": [segment["text"] for segment in json.loads(get["json"])["segments"]]}


def hits(client, query: str) -> list[int]:
    return [hit["segment"] for hit in client.get("/api/search", query_string={"q": query}).get_json()["results"]]


@both_stores
def test_an_edit_rewrites_every_output_and_the_index(app, client, transcribed):
    job = transcribed(SAYINGS)
    answer = client.patch(f"/api/jobs/{job.id}/segments/1", json={"text": "We met  Mr. Schmidt\nyesterday.",
                                                                   "base_version": 0})
    assert answer.status_code == 200
    assert answer.get_json() == {"segment": 1, "text": "We met Mr. Schmidt yesterday.", "version": 1}
    expected = [SAYINGS[0], "We met Mr. Schmidt yesterday.", SAYINGS[2]]
    assert texts(client, job.id) == dict.fromkeys(("txt", "srt", "vtt", "json"), expected)
    document = json.loads(client.get(f"/api/jobs/{job.id}/transcript.json").get_data())
    edited = document["segments"][1]
    assert (edited["start"], edited["end"]) == (2.0, 4.0)  # times kept
    assert [w["word"] for w in edited["words"]] == [" We", " met", " Mr.", " Schmidt", " yesterday."]
    cues = list(srt.parse(client.get(f"/api/jobs/{job.id}/transcript.srt").get_data(as_text=True)))
    assert cues[1].start.total_seconds() == 2.0 and cues[1].end.total_seconds() == 4.0
    assert hits(client, "schmidt") == [1] and hits(client, "schmit") == []

    same = client.patch(f"/api/jobs/{job.id}/segments/1", json={"text": "We met Mr. Schmidt yesterday.",
                                                                "base_version": 1})
    assert same.get_json()["version"] == 1  # nothing changed, no version
    longer = client.patch(f"/api/jobs/{job.id}/segments/2", json={"text": "Thank you all for coming today.",
                                                                  "base_text": SAYINGS[2]})
    assert longer.status_code == 200 and texts(client, job.id)["srt"][2] == "Thank you all for coming today."
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "Schmidt" in page and 'data-version="1"' in page and "revert-edits" in page


@both_stores
def test_the_second_of_two_edits_from_the_same_version_gets_409_with_the_current_text(client, transcribed):
    job = transcribed(SAYINGS)
    url = f"/api/jobs/{job.id}/segments/0"
    answers = at_once(lambda: client.patch(url, json={"text": "Good morning, this is Anna.", "base_version": 0}),
                      lambda: client.patch(url, json={"text": "Good morning, this is Hannah.", "base_version": 0}))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200, 409]
    won = next(a for a in answers if a.status_code == 200).get_json()
    lost = next(a for a in answers if a.status_code == 409).get_json()
    assert lost["text"] == won["text"] and lost["version"] == 1 and "changed meanwhile" in lost["error"]
    assert texts(client, job.id)["txt"][0] == won["text"]
    stale = client.patch(url, json={"text": "Good morning.", "base_text": SAYINGS[0]})
    assert stale.status_code == 409 and stale.get_json()["text"] == won["text"]


@both_stores
def test_refusals(app, client, transcribed, submit):
    job = transcribed(SAYINGS)
    url = f"/api/jobs/{job.id}/segments/0"
    for body, status in (({"text": "x"}, 400), ({"text": "", "base_version": 0}, 400),
                         ({"text": "a\x07b", "base_version": 0}, 400), ({"text": "x" * 2001, "base_version": 0}, 400),
                         ({"text": 3, "base_version": 0}, 400), ({"text": "x", "base_version": True}, 400),
                         ("not json", 400)):
        answer = client.patch(url, json=body)
        assert answer.status_code == status and answer.get_json()["error"], body
    for text in ("a\x1fb", "a\x85b", "a\x7fb", "a\x0bb"):  # control characters Python's split() takes for spaces
        answer = client.patch(url, json={"text": text, "base_version": 0})
        assert answer.status_code == 400 and "control characters" in answer.get_json()["error"], repr(text)
    for version in (-1, 1, 10**30):  # no segment version is negative or, before any edit, above 0
        answer = client.patch(url, json={"text": "x", "base_version": version})
        assert answer.status_code == 400 and "changed meanwhile" not in answer.get_json()["error"], version
    assert client.patch(f"/api/jobs/{job.id}/segments/9", json={"text": "x", "base_version": 0}).status_code == 404
    assert client.patch(f"/api/jobs/{'0' * 26}/segments/0", json={"text": "x", "base_version": 0}).status_code == 404
    queued = submit(DATA / "jfk.flac")
    answer = client.patch(f"/api/jobs/{queued.id}/segments/0", json={"text": "x", "base_version": 0})
    assert answer.status_code == 409 and "queued" in answer.get_json()["error"]
    assert app.spool.claim(queued.id) and app.store.claim(queued.id, "r1", 60)
    answer = client.patch(f"/api/jobs/{queued.id}/segments/0", json={"text": "x", "base_version": 0})
    assert answer.status_code == 409 and "running" in answer.get_json()["error"]
    plain = transcribed(SAYINGS, name="plain.wav", formats=("txt", "srt"))
    answer = client.patch(f"/api/jobs/{plain.id}/segments/0", json={"text": "x", "base_version": 0})
    assert answer.status_code == 409 and "json output" in answer.get_json()["error"]
    assert 'class="edit' not in client.get(f"/jobs/{plain.id}").get_data(as_text=True)
    assert texts(client, job.id)["txt"] == SAYINGS


@both_stores
def test_revert_restores_the_models_text_and_versions_are_kept(app, client, transcribed):
    job = transcribed(SAYINGS, speakers=["SPEAKER_00", "SPEAKER_00", "SPEAKER_01"])
    before = outputs(job)
    client.patch(f"/api/jobs/{job.id}/segments/0", json={"text": "Good morning, this is Anna from Berlin.",
                                                         "base_version": 0})
    client.patch(f"/api/jobs/{job.id}/segments/0", json={"text": "Morning, this is Anna.", "base_version": 1})
    client.patch(f"/api/jobs/{job.id}/segments/2", json={"text": "Thank you.", "base_version": 0})
    assert outputs(app.store.get(job.id)) != before
    versions = client.get(f"/api/jobs/{job.id}/segments/0/versions").get_json()["versions"]
    assert [(v["version"], v["text"], v["edited_by"]) for v in versions] == [
        (0, SAYINGS[0], None), (1, "Good morning, this is Anna from Berlin.", None),
        (2, "Morning, this is Anna.", None)]

    reverted = client.post(f"/api/jobs/{job.id}/revert").get_json()["reverted"]
    assert reverted == [{"segment": 0, "text": SAYINGS[0], "version": 3},
                        {"segment": 2, "text": SAYINGS[2], "version": 2}]
    assert outputs(app.store.get(job.id)) == before  # words, cues and speakers as the model gave them
    assert hits(client, "anna") == [] and hits(client, "ana") == [0]
    assert client.post(f"/api/jobs/{job.id}/revert").get_json()["reverted"] == []


@both_stores
def test_a_failure_while_rewriting_leaves_every_old_output_and_the_index(app, client, transcribed, tmpfs, tmp_path):
    folder = tmpfs(tmp_path / "small", "64k")
    job = transcribed(SAYINGS, folder=folder)
    before = outputs(job)
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(bytes(PAGE))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    answer = client.patch(f"/api/jobs/{job.id}/segments/1", json={"text": "We met Mr. Schmidt yesterday.",
                                                                   "base_version": 0})
    assert answer.status_code == 500 and "unchanged" in answer.get_json()["error"]
    assert outputs(app.store.get(job.id)) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(Path(p).name for p in job.outputs), "filler"])
    assert hits(client, "schmidt") == [] and hits(client, "schmit") == [1]
    assert client.get(f"/api/jobs/{job.id}/segments/1/versions").get_json()["versions"] == []

    filler.unlink()
    assert client.patch(f"/api/jobs/{job.id}/segments/1", json={"text": "We met Mr. Schmidt yesterday.",
                                                                "base_version": 0}).status_code == 200
    assert texts(client, job.id)["json"][1] == "We met Mr. Schmidt yesterday."


@both_stores
def test_with_auth_an_edit_needs_the_token_or_a_login_with_its_csrf_token(env, transcribed):
    from runner.core.settings import Settings
    from webui import create_app

    client = create_app(Settings.from_env({**env, "SPOOLSCRIBE_WEB_TOKEN": "s3cret-token-for-tests"})).test_client()
    job = transcribed(SAYINGS)
    url, body = f"/api/jobs/{job.id}/segments/0", {"text": "Good morning, Ana here.", "base_version": 0}
    assert client.patch(url, json=body).status_code == 401
    assert client.get("/api/search?q=ana").status_code == 401
    assert client.get("/search?q=ana").status_code == 302
    answer = client.patch(url, json=body, headers={"Authorization": "Bearer s3cret-token-for-tests"})
    assert answer.status_code == 200
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"token": "s3cret-token-for-tests", "csrf_token": token}).status_code == 302
    browser = {"Origin": "http://localhost"}
    again = {"text": "Good morning, Ana speaking.", "base_version": 1}
    assert client.patch(url, json=again, headers=browser).status_code == 400  # no CSRF token
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get(f"/jobs/{job.id}").get_data(as_text=True))
    assert client.patch(url, json=again, headers={**browser, "X-CSRF-Token": csrf.group(1)}).status_code == 200
    versions = client.get(f"{url}/versions").get_json()["versions"]
    assert [v["edited_by"] for v in versions] == [None, "bearer token", "browser login"]
    assert client.get("/api/search?q=speaking").get_json()["results"][0]["segment"] == 0
    assert "<mark>speaking</mark>" in client.get("/search?q=speaking").get_data(as_text=True)


@both_stores
def test_the_job_page_offers_editing_and_its_revert_button_works(app, client, transcribed):
    job = transcribed(SAYINGS)
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert f'data-edit-url="/api/jobs/{job.id}/segments/"' in page and page.count('class="edit link"') == 3
    assert "revert-edits" not in page
    client.patch(f"/api/jobs/{job.id}/segments/2", json={"text": "Thanks for joining.", "base_version": 0})
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    token = re.search(r'id="revert-edits".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    assert client.post(f"/jobs/{job.id}/revert").status_code == 400  # a form post needs its CSRF token
    answer = client.post(f"/jobs/{job.id}/revert", data={"csrf_token": token}, follow_redirects=True)
    assert answer.status_code == 200 and "Reverted 1 edited segment to the model" in answer.get_data(as_text=True)
    assert texts(client, job.id)["txt"] == SAYINGS
