"""Inputs that trip up transcription services: damaged containers, noise, any script, any locale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.core.store import SegmentRow

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


def test_cut_m4a_fails_and_white_noise_invents_nothing(media, cli, app):
    cut_id, noise_id, good_id = cli("submit", str(media / "cut.m4a"), str(media / "noise.wav"),
                                    str(media / "sample.m4a")).stdout.split()
    assert cli("runner", "--burst").returncode == 0
    cut = app.store.get(cut_id)
    assert cut.status == "failed" and "damaged or incomplete" in cut.error
    noise = app.store.get(noise_id)
    assert noise.status == "succeeded" and noise.warnings == ["no speech detected"]
    assert json.loads(Path(next(p for p in noise.outputs if p.endswith(".json"))).read_text())["segments"] == []
    assert app.store.get(good_id).status == "succeeded"


TEXTS = ["会议记录：你好，世界。", "مرحبا بالعالم", "Emoji 😀🎙️ and café — “quotes”", "Tom & Jerry <3 --> ok"]


def test_any_script_is_written_byte_exact_under_the_c_locale(media, cli, app, tmp_path):
    """Segments with CJK, Arabic and emoji text (restored from a checkpoint, as after a crash) are
    written byte-exact in every format by a runner whose locale is plain C; the file name too."""
    source = tmp_path / "-会议 مرحبا (😀).wav"
    shutil.copy(media / "jfk3.wav", source)
    locale_c = {"LANG": "C", "LC_ALL": "C"}
    job_id = cli("submit", str(source), extra_env=locale_c).stdout.strip()
    assert app.store.claim(job_id, "earlier", 60)  # an earlier attempt got this far, then its runner died
    rows = [SegmentRow(i, 0.1 + 0.5 * i, 0.5 + 0.5 * i, text,
                       [{"start": 0.1 + 0.5 * i, "end": 0.5 + 0.5 * i, "word": " " + text, "probability": 0.5}])
            for i, text in enumerate(TEXTS)]
    assert app.store.record_progress(job_id, "earlier", rows, processed_seconds=2.0)
    assert app.store.release(job_id, "earlier")
    assert cli("runner", "--burst", extra_env=locale_c).returncode == 0
    job = app.store.get(job_id)
    assert job.status == "succeeded" and job.original_name == "-会议 مرحبا (😀).wav"
    files = {Path(p).suffix: Path(p) for p in job.outputs}
    assert {p.name for p in files.values()} == {f"-会议 مرحبا (😀){ext}" for ext in (".txt", ".srt", ".vtt", ".json")}
    txt = files[".txt"].read_bytes()
    assert txt.startswith("\n".join(TEXTS).encode("utf-8"))
    srt_bytes = files[".srt"].read_bytes()
    for text in TEXTS:
        assert text.encode("utf-8") in srt_bytes
        assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("--&gt;", "-&#45;&gt;") \
            .encode("utf-8") in files[".vtt"].read_bytes()
    document = json.loads(files[".json"].read_bytes().decode("utf-8"))
    assert [s["text"] for s in document["segments"][: len(TEXTS)]] == TEXTS
    assert document["file"] == "-会议 مرحبا (😀).wav"
    assert "😀".encode() in files[".json"].read_bytes()  # not \\ud83d escapes
