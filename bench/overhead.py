"""Overhead: one recording of at least 5 minutes transcribed (a) by faster-whisper called directly
and (b) as a spoolscribe job from submit to succeeded with a warm runner, same model and settings.

Both use the same model directory, int8 on the CPU, the same threads, VAD filter and word
timestamps on, beam size 5. (a) includes decoding the file (faster-whisper's decode_audio), as (b)
includes ours. Each is run --rounds times, alternating; the table shows every round and the ratio
of the medians (target: b/a <= 1.03).

    .venv/bin/python bench/overhead.py              # sample.wav x 10 = 5 min, 3 rounds
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness import DATA, Deployment, epoch, looped, offline_model, print_table


def direct(model, path: Path) -> float:
    """Seconds faster-whisper takes to decode and transcribe ``path`` (model already loaded)."""
    from faster_whisper import decode_audio

    started = time.perf_counter()
    segments, _info = model.transcribe(decode_audio(str(path)), vad_filter=True, word_timestamps=True)
    for _segment in segments:
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=10, help="how often sample.wav repeats (30 s each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    from faster_whisper import WhisperModel

    with tempfile.TemporaryDirectory() as scratch, Deployment(SPOOLSCRIBE_THREADS=str(args.threads)) as deployment:
        recording = looped(DATA / "sample.wav", args.times, Path(scratch))
        model = WhisperModel(offline_model(), device="cpu", compute_type="int8", cpu_threads=args.threads)
        direct(model, recording)  # warm-up, like the warm runner
        deployment.start_runner("overhead")
        rows, a_times, b_times = [], [], []
        for round_number in range(1, args.rounds + 1):
            a = direct(model, recording)
            submitted = time.time()
            job_id, _ = deployment.submit(recording)
            deployment.wait_finished([job_id], 1800)
            job = deployment.app.store.get(job_id)
            assert job.status == "succeeded", job.error
            b = epoch(job.finished_at) - submitted
            a_times.append(a)
            b_times.append(b)
            rows.append((round_number, a, b, b / a))
        rows.append(("median", statistics.median(a_times), statistics.median(b_times),
                     statistics.median(b_times) / statistics.median(a_times)))
    print(f"overhead on {args.times * 30} s of audio, {args.threads} threads, tiny.en int8 (target b/a <= 1.03)")
    print_table(["round", "(a) faster-whisper s", "(b) spoolscribe job s", "b/a"], rows)


if __name__ == "__main__":
    main()
