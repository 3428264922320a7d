"""Memory and time of diarizing a long recording on the CPU, through the runner's own code path
(``runner.daemon.media.decode``, then ``runner.daemon.diarize.Diarizer.diarize``). Prints the resident set size
after decoding, after loading the pipeline, and at its peak, and the diarization time.

    .venv/bin/python bench/diarize_memory.py --untrained          # sample.wav x 120 = 60 min, random weights
    .venv/bin/python bench/diarize_memory.py --minutes 10         # the configured pipeline (real weights)

``--untrained`` builds a community-1-shaped pipeline with random weights (tests/untrained_pipeline.py):
the same models, shapes and steps as the real one, so the same memory and time, though its turns
are meaningless. Without it, SPOOLSCRIBE_DIARIZATION_PIPELINE (and HF_TOKEN) are used.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import DATA, looped, print_table

from runner.core.options import JobOptions
from runner.core.settings import Settings
from runner.daemon.diarize import Diarizer
from runner.daemon.media import decode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident set size (``VmRSS``) or its peak (``VmHWM``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def report_every(seconds: float, stop: threading.Event, started: float) -> None:
    while not stop.wait(seconds):
        print(f"  {time.monotonic() - started:7.0f} s: RSS {rss_mib():7.0f} MiB, peak {rss_mib('VmHWM'):7.0f} MiB",
              file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60, help="length of the recording (sample.wav looped)")
    parser.add_argument("--untrained", action="store_true", help="use a random-weights pipeline (no hub needed)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        overrides = {"threads": args.threads}
        if args.untrained:
            from untrained_pipeline import write_untrained_pipeline

            overrides["diarization_pipeline"] = str(write_untrained_pipeline(Path(scratch) / "pipeline"))
        settings = Settings.from_env(**overrides)
        recording = looped(DATA / "sample.wav", args.minutes * 2, Path(scratch))
        baseline = rss_mib()
        audio = decode(recording)
        decoded = rss_mib()
        diarizer = Diarizer(settings)
        loading = time.monotonic()
        diarizer.pipeline()
        loaded, load_time = rss_mib(), time.monotonic() - loading
        stop, started = threading.Event(), time.monotonic()
        threading.Thread(target=report_every, args=(60, stop, started), daemon=True).start()
        diarization = diarizer.diarize(audio.samples, JobOptions(diarize=True))
        elapsed = time.monotonic() - started
        stop.set()
        print_table(
            ["audio (min)", "threads", "batch", "RSS start (MiB)", "after decoding", "after loading", "peak RSS (MiB)",
             "load (s)", "diarize (s)", "real-time factor", "turns", "speakers"],
            [[args.minutes, settings.effective_threads, settings.diarization_batch_size, round(baseline),
              round(decoded), round(loaded), round(rss_mib("VmHWM")), round(load_time, 1), round(elapsed),
              elapsed / audio.duration, len(diarization.turns), len({t.speaker for t in diarization.turns})]])


if __name__ == "__main__":
    main()
