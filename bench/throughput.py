"""Throughput on this machine's cores: 20 jobs of 30 s (sample.wav) through warm runners in four
set-ups, reporting audio seconds per wall second and the mean WER against sample.stm.

1. one runner, all threads, sequential decoding (faster-whisper's transcribe);
2. one runner per core, one thread each, sequential;
3. and 4. one runner, all threads, faster-whisper's BatchedInferencePipeline, batch sizes 4 and 8.

    .venv/bin/python bench/throughput.py            # about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from harness import DATA, Deployment, print_table, reference_words, wer

from runner.core.transcript import read_transcript


def run(jobs: int, runners: int, threads: int, batch_size: int) -> tuple[float, float]:
    """Audio seconds per wall second and mean WER of ``jobs`` copies of sample.wav."""
    with Deployment(SPOOLSCRIBE_THREADS=str(threads), SPOOLSCRIBE_BATCH_SIZE=str(batch_size)) as deployment:
        for index in range(runners):
            deployment.start_runner(f"t{index}")
        started = time.monotonic()
        ids = [deployment.submit(DATA / "sample.wav", formats=("json",))[0] for _ in range(jobs)]
        deployment.wait_finished(ids, 1800)
        wall = time.monotonic() - started
        reference = reference_words(DATA / "sample.stm")
        errors = []
        for job_id in ids:
            job = deployment.app.store.get(job_id)
            assert job.status == "succeeded", job.error
            errors.append(wer(reference, read_transcript(Path(job.outputs[0]))[0].text))
    return jobs * 30.0 / wall, sum(errors) / len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    setups = [
        (f"1 runner x {cores} threads, sequential", 1, cores, 0),
        (f"{cores} runners x 1 thread, sequential", cores, 1, 0),
        (f"1 runner x {cores} threads, batched 4", 1, cores, 4),
        (f"1 runner x {cores} threads, batched 8", 1, cores, 8),
    ]
    rows = []
    for name, runners, threads, batch in setups:
        speed, error = run(args.jobs, runners, threads, batch)
        rows.append((name, speed, error))
        print(f"{name}: {speed:.1f} audio s / wall s, WER {error:.3f}", flush=True)
    print(f"\n{args.jobs} jobs of 30 s, tiny.en int8, {cores} cores")
    print_table(["set-up", "audio s per wall s", "mean WER"], rows)
    best = max(rows, key=lambda row: row[1])
    print(f"\nfastest: {best[0]}")


if __name__ == "__main__":
    main()
