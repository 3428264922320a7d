"""The web as it runs in production: gunicorn with the repository's config, as real processes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import SPOOLSCRIBE, wait_for

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


DATA = Path(__file__).parent / "data"
BOUNDARY = "spoolscribe-test-boundary"
MAX_WORKER_RSS = 100 * 1024 * 1024  # bytes


def multipart_head(name: str) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="language"\r\n\r\nen\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def post_upload(url: str, body, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST a multipart body (bytes, or an iterable of chunks sent with chunked encoding)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", "/api/jobs", body=body, encode_chunked=not isinstance(body, bytes),
                           headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(headers or {})})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def get(url: str, headers: dict[str, str] | None = None) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
        response.read()
        return response.status


def worker_pids(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_gunicorn_serves_and_a_worker_stays_under_100_mb(web_server, app):
    web = web_server("--workers", "1")
    sample = (DATA / "sample.wav").read_bytes()
    created = [post_upload(web.url, multipart_head(f"take {n}.wav") + sample + TAIL) for n in range(3)]
    assert [status for status, _ in created] == [201, 201, 201]
    job_id = created[0][1]["id"]
    for _ in range(30):
        for path in ("/", "/upload", "/live/jobs", f"/jobs/{job_id}", f"/api/jobs/{job_id}", "/api/jobs", "/healthz"):
            assert get(web.url + path) == 200, path
    (worker,) = worker_pids(web.pid)
    assert rss_bytes(worker) < MAX_WORKER_RSS, f"worker RSS {rss_bytes(worker) / 2**20:.1f} MiB"
    log = web.log_path.read_text()
    assert "without authentication" not in log, "loopback needs no warning"
    assert f'"GET /api/jobs/{job_id} HTTP/1.1" 200' in log


def test_chunked_upload_over_the_limit_is_413_and_leaves_nothing(web_server, app):
    web = web_server(extra_env={"SPOOLSCRIBE_MAX_UPLOAD_BYTES": "200000"})

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit can only be seen while streaming
        yield multipart_head("big.wav")
        for _ in range(6):
            yield b"\0" * 65536
        yield TAIL

    status, body = post_upload(web.url, chunks())
    assert status == 413 and "larger than this server accepts" in body["error"]
    for sub in ("tmp", "new", "media"):
        assert list((app.spool.root / sub).iterdir()) == [], sub
    assert app.store.list() == []


def test_token_guards_gunicorn_and_never_reaches_its_log(web_server):
    token = "gunicorn-token-4f9a1c"
    web = web_server(extra_env={"SPOOLSCRIBE_WEB_TOKEN": token}, bind="0.0.0.0:0")
    try:
        get(web.url + "/api/jobs")
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    assert get(web.url + "/api/jobs", {"Authorization": f"Bearer {token}"}) == 200
    log = web.log_path.read_text()
    assert token not in log and "without authentication" not in log


def test_listening_beyond_loopback_without_a_token_warns(web_server):
    web = web_server(bind="0.0.0.0:0")
    wait_for(lambda: "without authentication" in web.log_path.read_text(), 10, what="the warning")
    assert "set SPOOLSCRIBE_WEB_TOKEN" in web.log_path.read_text()


def test_spoolscribe_web_starts_the_same_gunicorn(env, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(tmp_path / "web.log", "wb") as log:
        process = subprocess.Popen([SPOOLSCRIBE, "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def healthy() -> bool:
            try:
                return get(f"http://127.0.0.1:{port}/healthz") == 200
            except OSError:
                return False

        wait_for(healthy, 60, what="spoolscribe web to answer")
        text = (tmp_path / "web.log").read_text()
        assert "Using worker: webui.worker.ThreadWorker" in text and f"Listening at: http://127.0.0.1:{port}" in text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_spoolscribe_web_refuses_no_workers_and_names_the_flag(cli):
    for args, wanted in ((("--workers", "0"), "Invalid value for '--workers': 0 is not in the range x>=1"),
                         (("--threads", "2"), "Invalid value for '--threads': 2 leaves no thread for reads")):
        refused = cli("web", "--bind", "127.0.0.1:0", *args, timeout=60)
        assert refused.returncode == 2 and wanted in refused.stderr, refused.stderr
