"""``curl -OJ`` (the README's example) against the real web server: transcripts and media of files
whose names are not ASCII, are only dots, or hold quotes are saved under usable, distinct names in
one folder. The header on its own: tests/test_downloads.py."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
from test_websafety import multipart

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml

SAVED = {"会议.wav": ("{id}.wav", "{id}.srt"), "..": ("{id}", "{id}.srt"), "...": ("{id}", "{id}.srt"),
         'say "hi".wav': ("say _hi_.wav", "say _hi_.srt")}
"""Name uploaded: the names curl -OJ saves its media and its srt transcript under."""


def test_curl_saves_every_download_under_a_usable_name(app, web_server, runners, media, tmp_path):
    web = web_server()
    jobs = {}
    for name in SAVED:
        body, content_type = multipart(name, (media / "jfk3.wav").read_bytes())
        request = urllib.request.Request(f"{web.url}/api/jobs", data=body, method="POST",
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=60) as response:
            jobs[name] = json.load(response)["id"]
    assert runners("downloads", "--burst").wait(timeout=300) == 0
    folder = tmp_path / "saved"
    folder.mkdir()
    for job_id in jobs.values():
        assert app.store.get(job_id).status == "succeeded"
        for url in (f"{web.url}/api/jobs/{job_id}/media", f"{web.url}/api/jobs/{job_id}/transcript.srt"):
            fetched = subprocess.run(["curl", "--silent", "--show-error", "--fail", "-OJ", url], cwd=folder,
                                     capture_output=True, text=True, timeout=60)
            assert fetched.returncode == 0, (url, fetched.stderr)
    expected = {saved.format(id=jobs[name]) for name, pair in SAVED.items() for saved in pair}
    assert {path.name for path in folder.iterdir()} == expected
    assert all(path.stat().st_size > 0 for path in folder.iterdir())
