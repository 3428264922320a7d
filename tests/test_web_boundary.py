"""The web's boundary: a fresh web process that has served every endpoint has not imported the
speech stack (faster-whisper, CTranslate2, ONNX Runtime, torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


DATA = Path(__file__).parent / "data"
FORBIDDEN = ("faster_whisper", "ctranslate2", "onnxruntime", "torch")

# Run in a fresh interpreter: builds the app from the environment, records the URL rule of every
# request, and drives every endpoint (pages, forms, API, downloads, media, health, login).
EXERCISE = r"""
import json, re, sys
from flask import request
from webui import create_app

finished, sample = sys.argv[1], sys.argv[2]
app = create_app()
served = set()
app.after_request(lambda response: served.add((request.method, request.url_rule.rule if request.url_rule else None))
                  or response)
client = app.test_client()
statuses = []

def hit(method, url, **kwargs):
    response = client.open(url, method=method, **kwargs)
    statuses.append((method, url.split("?")[0].replace(finished, "<done>"), response.status_code))
    return response

def upload(url, **fields):
    with open(sample, "rb") as handle:
        return hit("POST", url, data={"file": (handle, "sample.wav"), **fields}, content_type="multipart/form-data")

token = re.search(r'name="csrf-token" content="([^"]+)"', hit("GET", "/").get_data(as_text=True)).group(1)
for url in ("/?status=succeeded", "/upload", "/live/jobs", f"/jobs/{finished}", f"/live/jobs/{finished}", "/login",
            "/api/jobs?limit=5", f"/api/jobs/{finished}", f"/api/jobs/{finished}/media", "/healthz", "/metrics",
            *(f"/api/jobs/{finished}/transcript.{fmt}" for fmt in ("txt", "srt", "vtt", "json"))):
    hit("GET", url)
created = upload("/api/jobs").get_json()["id"]
hit("POST", f"/api/jobs/{created}/cancel")
hit("POST", f"/api/jobs/{created}/retry")
hit("POST", f"/api/jobs/{created}/cancel")
hit("DELETE", f"/api/jobs/{created}")
upload("/upload", csrf_token=token)
queued = app.extensions["spoolscribe"].store.list(status="queued")[0].id
form = {"csrf_token": token}
hit("POST", f"/jobs/{queued}/cancel", data=form)
hit("POST", f"/jobs/{queued}/retry", data=form)
hit("POST", f"/api/jobs/{finished}/speakers", json={"names": {}})  # renames nothing: the job has no speakers
hit("POST", f"/jobs/{finished}/speakers", data=form)
hit("GET", "/search?q=fellow+countr*")
hit("GET", '/api/search?q="my fellow"&order=relevance')
hit("PATCH", f"/api/jobs/{finished}/segments/0", json={"text": "And so, my fellow Americans.", "base_version": 0})
hit("GET", f"/api/jobs/{finished}/segments/0/versions")
hit("POST", f"/api/jobs/{finished}/revert")
hit("POST", f"/jobs/{finished}/revert", data=form)
hit("POST", f"/jobs/{queued}/cancel", data=form)
hit("GET", f"/jobs/{queued}/delete")
hit("POST", f"/jobs/{queued}/delete", data=form)
hit("POST", "/login", data=form)
hit("POST", "/logout", data=form)
rules = {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
         for method in rule.methods - {"HEAD", "OPTIONS"}}
print(json.dumps({"statuses": statuses, "unserved": sorted(map(list, rules - served)),
                  "forbidden": sorted(name for name in sys.modules if name.split(".")[0] in %r)}))
""" % (FORBIDDEN,)  # noqa: UP031 - a script full of braces: %r keeps them unescaped


def test_serving_every_endpoint_imports_no_speech_stack(cli, env, tmp_path):
    finished = cli("submit", str(DATA / "jfk.flac")).stdout.strip()
    assert cli("runner", "--burst").returncode == 0
    child = subprocess.run([sys.executable, "-c", EXERCISE, finished, str(DATA / "sample.wav")], env=env,
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.splitlines()[-1])
    assert report["unserved"] == [], "every endpoint must be exercised"
    failures = [entry for entry in report["statuses"] if entry[2] >= 400]
    assert failures == [], failures
    assert report["forbidden"] == []


def test_the_check_sees_the_speech_stack_when_it_is_imported(env, tmp_path):
    """The same sys.modules check, on a process that does import the engine, does find it."""
    probe = ("import sys, runner.daemon.transcribe; "
             f"print(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}))")
    child = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert "faster_whisper" in child.stdout and "ctranslate2" in child.stdout
