"""Pickup latency: from `submit` returning to the job being `running`, with a warm idle runner.

Submits --jobs tiny jobs (0.5 s of speech) one after another, each once the runner is idle again,
and reads the claim time the runner recorded (started_at) against the time submit returned.

    .venv/bin/python bench/pickup.py            # 200 jobs, about a minute
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from harness import DATA, Deployment, epoch, print_table, wait_until


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, Deployment(SPOOLSCRIBE_RESCAN_INTERVAL="5") as deployment:
        tiny = Path(scratch) / "tiny.wav"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / "jfk.flac"), "-t", "0.5", str(tiny)],
                       check=True, timeout=60)
        deployment.start_runner("pickup")
        store = deployment.app.store
        latencies = []
        for _ in range(args.jobs):
            job_id, returned = deployment.submit(tiny, formats=("txt",))
            job = wait_until(lambda job_id=job_id: (lambda j: j if j.status in ("succeeded", "failed") else None)(
                store.get(job_id)), 60, 0.005)
            wait_until(lambda: any(r.state == "idle" for r in store.runners()), 10, 0.005)
            latencies.append((epoch(job.started_at) - returned) * 1000)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"pickup latency over {len(latencies)} jobs (warm idle runner, file events; rescan every 5 s)")
    print_table(["jobs", "median ms", "p95 ms", "p99 ms", "max ms", "target"],
                [(len(latencies), statistics.median(latencies), cuts[94], cuts[98], max(latencies),
                  "median <= 50, p99 <= 250")])


if __name__ == "__main__":
    main()
