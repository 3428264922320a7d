"""Diarization error rate (pyannote.metrics) of the configured pipeline on sample.wav against
tests/data/sample.rttm, and the time it takes, through the runner's own code path.

    SPOOLSCRIBE_DIARIZATION_PIPELINE=/srv/models/community-1 .venv/bin/python bench/der.py
    HF_TOKEN=hf_... .venv/bin/python bench/der.py                  # the default hub pipeline
    .venv/bin/python bench/der.py --untrained                      # a smoke run: random weights, DER meaningless

For servers that have the real weights (CI has none: there the numbers of ``--untrained`` only
show that the measurement runs). DER = (false alarm + missed speech + speaker confusion) / speech,
with the optimal one-to-one mapping of speakers, no collar and overlap scored unless told otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness import DATA, print_table

from runner.core.options import JobOptions
from runner.core.settings import Settings
from runner.daemon.diarize import Diarizer
from runner.daemon.media import decode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=DATA / "sample.wav")
    parser.add_argument("--reference", type=Path, default=DATA / "sample.rttm")
    parser.add_argument("--collar", type=float, default=0.0, help="seconds ignored around each reference boundary")
    parser.add_argument("--skip-overlap", action="store_true", help="do not score overlapping speech")
    parser.add_argument("--num-speakers", type=int, help="tell the pipeline how many speakers there are")
    parser.add_argument("--untrained", action="store_true", help="random-weights pipeline (no real weights needed)")
    args = parser.parse_args()

    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    with tempfile.TemporaryDirectory() as scratch:
        overrides = {}
        if args.untrained:
            from untrained_pipeline import write_untrained_pipeline

            overrides["diarization_pipeline"] = str(write_untrained_pipeline(Path(scratch) / "pipeline"))
        settings = Settings.from_env(**overrides)
        references = load_rttm(str(args.reference))
        uri, reference = next(iter(references.items()))
        audio = decode(args.audio)
        diarizer = Diarizer(settings)
        started = time.monotonic()
        diarizer.pipeline()
        loaded = time.monotonic()
        diarization = diarizer.diarize(audio.samples, JobOptions(diarize=True, num_speakers=args.num_speakers))
        finished = time.monotonic()

    hypothesis = Annotation(uri=uri)
    for number, turn in enumerate(diarization.turns):
        hypothesis[Segment(turn.start, turn.end), number] = turn.speaker
    metric = DiarizationErrorRate(collar=args.collar, skip_overlap=args.skip_overlap)
    parts = metric(reference, hypothesis, detailed=True)
    speech = parts["total"] or 1.0
    print_table(
        ["pipeline", "audio (s)", "load (s)", "diarize (s)", "real-time factor", "speakers (ref/found)", "DER",
         "false alarm", "missed", "confusion"],
        [[settings.diarization_pipeline if not args.untrained else "untrained (random weights)",
          round(audio.duration, 1), round(loaded - started, 1), round(finished - loaded, 1),
          (finished - loaded) / audio.duration, f"{len(reference.labels())}/{len(hypothesis.labels())}",
          parts["diarization error rate"], parts["false alarm"] / speech, parts["missed detection"] / speech,
          parts["confusion"] / speech]])


if __name__ == "__main__":
    main()
