"""Issue #15's media end to end: `spoolscribe submit`, one runner process, the real tiny.en model;
the right words, the right warnings (and none where nothing is wrong), the right times."""

from __future__ import annotations

import json
from pathlib import Path

import jiwer
import pytest
import srt
from hard_media import COMMENTARY, FIRST, LATE, MAIN, SECOND, hard_media_dir  # noqa: F401 (the fixture "hard")
from whisper_normalizer.english import EnglishTextNormalizer

from runner.daemon.media import MIX_WARNING

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml

normalise = EnglishTextNormalizer()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after Whisper's English text normaliser."""
    return jiwer.wer(normalise(reference), normalise(hypothesis))


def test_hard_media_are_heard_as_they_are(hard, cli, app):
    names = ["two_tracks.mkv", "rate_change.mp3", "chained.ogg", "ape.mp3", "six.wav", "late.mkv", "two_voices.wav"]
    submitted = cli("submit", *(str(hard / name) for name in names))
    assert submitted.returncode == 0, submitted.stderr
    ids = dict(zip(names, submitted.stdout.split(), strict=True))
    commentary_id = cli("submit", "--audio-track", "ger", str(hard / "two_tracks.mkv")).stdout.strip()
    ran = cli("runner", "--burst", "--name", "decoding")
    assert ran.returncode == 0, ran.stderr
    jobs = {name: app.store.get(job_id) for name, job_id in ids.items()}
    assert all(job.status == "succeeded" for job in jobs.values()), {n: j.error for n, j in jobs.items()}

    def text(job) -> str:
        return json.loads(Path(next(p for p in job.outputs if p.endswith(".json"))).read_text())["text"]

    main = jobs["two_tracks.mkv"]
    assert wer(MAIN, text(main)) <= 0.2 and "garden" not in text(main)
    assert main.audio == {"number": 2, "language": "eng", "title": "Main", "tracks": 2, "offset": 0.0}
    assert main.warnings[0].startswith('this file has 2 audio tracks; track 2 (eng, "Main") was transcribed')
    commentary = app.store.get(commentary_id)
    assert commentary.status == "succeeded" and commentary.audio["number"] == 1
    assert wer(COMMENTARY, text(commentary)) <= 0.2 and "lighthouse" not in text(commentary).lower()
    for name in ("rate_change.mp3", "chained.ogg"):  # both parts, no warning
        assert wer(f"{FIRST} {SECOND}", text(jobs[name])) <= 0.3, text(jobs[name])
        assert jobs[name].warnings == [], name
    assert wer(FIRST, text(jobs["ape.mp3"])) <= 0.2 and jobs["ape.mp3"].warnings == []
    assert wer(MAIN, text(jobs["six.wav"])) <= 0.3 and jobs["six.wav"].warnings == []
    late = jobs["late.mkv"]
    assert wer(MAIN, text(late)) <= 0.2 and late.warnings == []
    cues = list(srt.parse(Path(next(p for p in late.outputs if p.endswith(".srt"))).read_text()))
    assert LATE - 0.1 <= cues[0].start.total_seconds() <= LATE + 1.0  # speech starts at once in the audio
    assert cues[-1].end.total_seconds() <= LATE + late.duration + 0.01
    assert MIX_WARNING in jobs["two_voices.wav"].warnings
