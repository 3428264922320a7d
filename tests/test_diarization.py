"""Speaker diarization in runner processes: the real pyannote.audio pipeline, built from model files
with untrained weights (no model hub is reachable from CI), on real audio; and every way it can
fail, each of which still delivers the transcript with a warning."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import groupby
from pathlib import Path

import pytest
import srt
import webvtt
from conftest import DATA, PROCESS_START_SECONDS, job_bound
from untrained_pipeline import write_untrained_pipeline

LABEL = re.compile(r"^SPEAKER_\d\d$")
STAGES = ("decoding", "transcribing", "diarizing", "writing")


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory) -> Path:
    """An untrained community-1-shaped pipeline; a 5 s segmentation step keeps the test quick on 2 cores."""
    return write_untrained_pipeline(tmp_path_factory.mktemp("pipeline") / "diarization", segmentation_step=0.5)


def submit(cli, *args: str) -> str:
    done = cli("submit", *args, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def status(cli, job_id: str) -> dict:
    done = cli("status", job_id, "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def outputs(job: dict) -> dict[str, Path]:
    return {Path(path).suffix[1:]: Path(path) for path in job["outputs"]}


def run_burst(runners, name: str, timeout: float, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    runner = runners(name, "--burst", extra_env=extra_env)
    runner.wait(timeout=timeout)
    assert runner.returncode == 0, runner.log_path.read_text()
    return runner


@pytest.mark.slow
def test_real_pipeline_gives_speaker_attributed_outputs(cli, runners, app, client, pipeline_dir, tmp_path):
    clip = tmp_path / "clip.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / "jfk.flac"), "-t", "1", str(clip)],
                   check=True, timeout=60)
    sample = submit(cli, str(DATA / "sample.wav"), "--diarize", "--max-speakers", "3")
    short = submit(cli, str(clip), "--diarize")
    runner = runners("speakers", "--burst", extra_env={"SPOOLSCRIBE_DIARIZATION_PIPELINE": str(pipeline_dir)})
    seen: list[str] = []
    deadline = time.monotonic() + 240
    while runner.poll() is None and time.monotonic() < deadline:  # the stages the sample job goes through
        stage = app.store.get(sample).stage
        if stage and (not seen or seen[-1] != stage):
            seen.append(stage)
        time.sleep(0.05)
    assert runner.wait(timeout=10) == 0, runner.log_path.read_text()
    assert "diarizing" in seen and seen == sorted(seen, key=STAGES.index), seen

    job = status(cli, sample)
    assert job["status"] == "succeeded" and job["warnings"] == [], job
    files = outputs(job)
    assert set(files) == {"txt", "srt", "vtt", "json", "rttm"}
    document = json.loads(files["json"].read_text())
    duration = document["duration"]
    words = [word for segment in document["segments"] for word in segment["words"]]
    assert words and all(LABEL.match(word["speaker"]) for word in words)
    assert all(word["speaker"] == segment["speaker"] for segment in document["segments"] for word in segment["words"])
    speakers = document["speakers"]
    assert speakers == [f"SPEAKER_{n:02d}" for n in range(len(speakers))] and 1 <= len(speakers) <= 3
    assert list(dict.fromkeys(w["speaker"] for w in words)) == speakers[:len({w["speaker"] for w in words})]
    assert document["turns"] and all(0 <= t["start"] < t["end"] <= duration for t in document["turns"])

    from pyannote.database.util import load_rttm

    annotations = load_rttm(str(files["rttm"]))
    assert list(annotations) == ["sample"]
    annotation = annotations["sample"]
    assert set(annotation.labels()) <= set(speakers) and len(list(annotation.itertracks())) == len(document["turns"])
    assert annotation.get_timeline().extent().start >= 0 and annotation.get_timeline().extent().end <= duration

    captions = webvtt.read(str(files["vtt"]))
    assert captions and all(LABEL.match(c.voice or "") and c.raw_text.endswith("</v>") for c in captions)
    # cue shaping may split a segment into several cues: compare the order of speaker changes
    assert [voice for voice, _ in groupby(c.voice for c in captions)] == [
        speaker for speaker, _ in groupby(s["speaker"] for s in document["segments"] if s["text"])]
    cues = list(srt.parse(files["srt"].read_text()))
    assert cues[0].content.startswith(f"[{document['segments'][0]['speaker']}] ")
    lines = files["txt"].read_text().splitlines()
    changes = [n for n, s in enumerate(document["segments"])
               if n == 0 or s["speaker"] != document["segments"][n - 1]["speaker"]]
    assert [n for n, line in enumerate(lines) if line.startswith("[SPEAKER_")] == changes

    clipped = status(cli, short)
    assert clipped["status"] == "succeeded" and set(outputs(clipped)) == {"txt", "srt", "vtt", "json"}
    assert clipped["warnings"] == [
        "speaker diarization skipped: the audio is too short (1.0 s; at least 2 s are needed)"]
    assert "and so" in outputs(clipped)["txt"].read_text().lower()  # the transcript, without speakers
    assert "SPEAKER_" not in outputs(clipped)["json"].read_text()

    # the job page shows who spoke; a person renames a speaker and every output is rewritten
    html = client.get(f"/jobs/{sample}").get_data(as_text=True)
    assert '<span class="speaker">SPEAKER_00</span>' in html and 'id="rename-speakers"' in html
    assert f"/api/jobs/{sample}/transcript.rttm" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    done = client.post(f"/jobs/{sample}/speakers", follow_redirects=True,
                       data={"csrf_token": token, "speaker": speakers, "name": ["Diane"] + [""] * (len(speakers) - 1)})
    assert done.status_code == 200 and "Renamed 1 speaker;" in done.get_data(as_text=True)
    assert files["txt"].read_text().startswith("[Diane] ") and "<v Diane>" in files["vtt"].read_text()
    renamed_cue = next(srt.parse(files["srt"].read_text())).content  # the line may break elsewhere now
    assert cues[0].content.replace("[SPEAKER_00]", "[Diane]").split() == renamed_cue.split()
    assert json.loads(files["json"].read_text())["speakers"] == ["Diane", *speakers[1:]]
    assert set(load_rttm(str(files["rttm"]))["sample"].labels()) <= {"Diane", *speakers[1:]}
    renamed = client.post(f"/api/jobs/{sample}/speakers", json={"names": {"Diane": "Diane K"}},
                          headers={"X-CSRF-Token": token})
    assert renamed.status_code == 200 and renamed.json == {"renamed": {"Diane": "Diane K"},
                                                           "speakers": ["Diane K", *speakers[1:]]}
    assert "[Diane K] " in client.get(f"/api/jobs/{sample}/transcript.txt").get_data(as_text=True)
    unknown = client.post(f"/api/jobs/{sample}/speakers", json={"names": {"SPEAKER_00": "X"}},
                          headers={"X-CSRF-Token": token})
    assert unknown.status_code == 400 and "no speaker 'SPEAKER_00'" in unknown.json["error"]
    assert 'id="rename-speakers"' not in client.get(f"/jobs/{short}").get_data(as_text=True)


class _RefusingHub(BaseHTTPRequestHandler):
    """A model hub on loopback that refuses every token, as huggingface.co does for an invalid one."""

    requests: list[tuple[str, str]] = []

    def _refuse(self) -> None:
        type(self).requests.append((self.path, self.headers.get("Authorization", "")))
        body = b'{"error":"Invalid credentials in Authorization header"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Message", "Invalid credentials in Authorization header")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing_hub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_missing_pipeline_or_refused_token_still_deliver_the_transcript(app, cli, runners, media, tmp_path,
                                                                       refusing_hub):
    bound = job_bound(app.settings, 3.0)
    missing = submit(cli, str(media / "jfk3.wav"), "--diarize", "--format", "txt")
    run_burst(runners, "missing", bound, {"SPOOLSCRIBE_DIARIZATION_PIPELINE": str(tmp_path / "no-such-pipeline")})
    refused = submit(cli, str(media / "jfk3.wav"), "--diarize", "--format", "txt")
    started = time.monotonic()
    run_burst(runners, "refused", bound, {"HF_ENDPOINT": refusing_hub, "HF_TOKEN": "hf_bogus",
                                        "HF_HOME": str(tmp_path / "hf"), "HF_HUB_ETAG_TIMEOUT": "5"})
    assert time.monotonic() - started < PROCESS_START_SECONDS, "the refusal is not waited out"
    for job_id, reason in [(missing, f"the pipeline directory {tmp_path / 'no-such-pipeline'} does not exist"),
                           (refused, "the model hub refused the token (HTTP 401) for "
                                     "pyannote/speaker-diarization-community-1")]:
        job = status(cli, job_id)
        assert job["status"] == "succeeded" and "Americans" in outputs(job)["txt"].read_text()
        assert len(job["warnings"]) == 1 and job["warnings"][0].startswith(f"speaker diarization failed: {reason}")
    downloads = [token for path, token in _RefusingHub.requests if "/resolve/" in path]
    assert downloads and set(downloads) == {"Bearer hf_bogus"}  # HF_TOKEN was offered and refused


HIDE_PYANNOTE = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "pyannote"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
"""
REPORT_MODULES = """
import atexit, sys
atexit.register(lambda: print("heavy modules:", sorted({m.split(".")[0] for m in sys.modules} & {"torch", "pyannote"})))
"""


def run_runner_code(env: dict[str, str], prelude: str, name: str) -> subprocess.CompletedProcess:
    """``spoolscribe runner --burst`` in a Python that first runs ``prelude`` (an environment condition)."""
    code = f"{prelude}\nfrom runner.cli.main import main\nmain(['runner', '--burst', '--name', {name!r}])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_without_pyannote_a_diarize_job_keeps_its_transcript(cli, env, media):
    job_id = submit(cli, str(media / "jfk3.wav"), "--diarize", "--format", "txt,json")
    done = run_runner_code(env, HIDE_PYANNOTE, "bare")
    assert done.returncode == 0, done.stderr
    job = status(cli, job_id)
    assert job["status"] == "succeeded" and "Americans" in outputs(job)["txt"].read_text()
    assert job["warnings"] == ["speaker diarization is not installed on this runner; install "
                               "spoolscribe[diarization] there"]


@pytest.mark.slow
def test_a_transcription_only_runner_never_imports_torch(cli, env, media):
    job_id = submit(cli, str(media / "jfk3.wav"), "--format", "txt")
    done = run_runner_code(env, REPORT_MODULES, "plain")
    assert done.returncode == 0, done.stderr
    assert status(cli, job_id)["status"] == "succeeded"
    assert "heavy modules: []" in done.stdout


def test_upload_takes_the_speaker_options(client, upload, media):
    assert 'name="diarize"' in client.get("/upload").get_data(as_text=True)
    response = upload(media / "jfk3.wav", diarize="true", num_speakers="2", min_speakers="", max_speakers="")
    assert response.status_code == 201, response.json
    options = response.json["options"]
    assert (options["diarize"], options["num_speakers"], options["min_speakers"]) == (True, 2, None)
    assert "· speakers num 2" in client.get(f"/jobs/{response.json['id']}").get_data(as_text=True)
    for fields, message in [({"diarize": "true", "num_speakers": "two"}, "num_speakers must be a whole number"),
                            ({"max_speakers": "3"}, "max_speakers needs diarize")]:
        refused = upload(media / "jfk3.wav", **fields)
        assert refused.status_code == 400 and message in refused.json["error"]


@pytest.mark.slow
def test_speaker_options_are_checked_at_submission(cli, media):
    job = status(cli, submit(cli, str(media / "jfk3.wav"), "--diarize", "--min-speakers", "2", "--max-speakers", "4"))
    assert {k: job["options"][k] for k in ("diarize", "num_speakers", "min_speakers", "max_speakers")} == \
        {"diarize": True, "num_speakers": None, "min_speakers": 2, "max_speakers": 4}
    for args, message in [(("--num-speakers", "2"), "num_speakers needs diarize"),
                          (("--diarize", "--min-speakers", "3", "--max-speakers", "2"), "min_speakers (3) is more"),
                          (("--diarize", "--num-speakers", "2", "--max-speakers", "2"), "either num_speakers or"),
                          (("--diarize", "--num-speakers", "0"), "from 1 to 100")]:
        done = cli("submit", str(media / "jfk3.wav"), *args, timeout=60)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
