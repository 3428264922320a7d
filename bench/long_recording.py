"""A one-hour recording: the runner's peak RSS, the longest gap between two progress updates
seen by a status reader, and the job's wall time against faster-whisper called directly.

    .venv/bin/python bench/long_recording.py        # sample.wav x 120 = 60 min; about 10 minutes
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from harness import DATA, Deployment, epoch, looped, offline_model, print_table


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set size) of a live process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, Deployment(SPOOLSCRIBE_THREADS=str(args.threads)) as deployment:
        recording = looped(DATA / "sample.wav", args.minutes * 2, Path(scratch))
        runner = deployment.start_runner("hour")
        store = deployment.app.store
        submitted = time.time()
        job_id, _ = deployment.submit(recording)
        seen, gaps, last = None, [], time.monotonic()
        while (job := store.get(job_id)).status in ("queued", "running"):
            if job.status == "running" and (job.stage, job.progress) != seen:
                now = time.monotonic()
                if seen is not None:
                    gaps.append((now - last, job.stage, job.progress))
                seen, last = (job.stage, job.progress), now
            time.sleep(0.1)
        assert job.status == "succeeded", job.error
        wall = epoch(job.finished_at) - submitted
        peak = peak_rss_mib(runner.pid)
        longest = max(gaps)

        from faster_whisper import WhisperModel, decode_audio

        model = WhisperModel(offline_model(), device="cpu", compute_type="int8", cpu_threads=args.threads)
        started = time.perf_counter()
        segments, _ = model.transcribe(decode_audio(str(recording)), vad_filter=True, word_timestamps=True)
        for _segment in segments:
            pass
        direct = time.perf_counter() - started
    print(f"{args.minutes} min recording, tiny.en int8, {args.threads} threads")
    print_table(["runner peak RSS MiB", "progress updates", "longest gap s (before stage, progress)",
                 "job wall s", "faster-whisper direct s", "ratio"],
                [(peak, len(gaps) + 1, f"{longest[0]:.1f} (before {longest[1]} {longest[2]:.3f})", wall, direct,
                  wall / direct)])


if __name__ == "__main__":
    main()
