"""Chaos: the same jobs run undisturbed, then with a random runner killed (SIGKILL) every few
seconds and restarted as systemd would. Prints jobs, kills, attempts, seconds of audio transcribed
twice per kill (from the runners' per-segment debug log), and both wall times.

    .venv/bin/python bench/chaos.py                 # 30 jobs, 3 runners, a kill every 3 s: ~3 minutes
"""

from __future__ import annotations

import argparse
import random
import re
import signal
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from harness import DATA, Deployment, looped, print_table

CLAIM = re.compile(r"runner \S+: job (\w{26}) claimed")
RESUME = re.compile(r"runner \S+: job (\w{26}) resumes at ([\d.]+) s")
SEGMENT = re.compile(r"runner \S+: job (\w{26}): segment [\d.]+-([\d.]+) s")


def redone_per_job(logs: list[Path]) -> dict[str, float]:
    """Seconds of audio each job had transcribed more than once: the sum over its attempts of the
    stretch each covered (from its resume point to its last segment), less the stretch covered once."""
    spans: dict[str, float] = defaultdict(float)
    reach: dict[str, float] = defaultdict(float)
    for log in logs:
        job, start, end = None, 0.0, 0.0
        for line in log.read_text().splitlines() + ["runner -: job 00000000000000000000000000 claimed"]:
            if match := CLAIM.search(line):
                if job:
                    spans[job] += end - start
                    reach[job] = max(reach[job], end)
                job, start, end = match.group(1), 0.0, 0.0
            elif (match := RESUME.search(line)) and match.group(1) == job:
                start = end = float(match.group(2))
            elif (match := SEGMENT.search(line)) and match.group(1) == job:
                end = max(end, float(match.group(2)))
    return {job: spans[job] - reach[job] for job in spans}


def run(files: list[Path], runners: int, kill_every: float, max_kills: int, seed: int):
    env = {"SPOOLSCRIBE_THREADS": "1", "SPOOLSCRIBE_LEASE_SECONDS": "5", "SPOOLSCRIBE_REAP_INTERVAL": "1",
           "SPOOLSCRIBE_MAX_ATTEMPTS": "20"}
    with Deployment(**env) as deployment:
        names = [str(i + 1) for i in range(runners)]
        procs = {name: deployment.start_runner(name, verbose=True, wait=False) for name in names}
        started = time.monotonic()
        ids = [deployment.submit(path)[0] for path in files]
        rng, kills = random.Random(seed), 0
        store = deployment.app.store
        while not all(store.get(i).status == "succeeded" for i in ids):
            if time.monotonic() - started > 1800:
                raise TimeoutError("jobs did not finish in 30 minutes")
            time.sleep(kill_every or 0.2)
            if kill_every and kills < max_kills:
                name = rng.choice(names)
                procs[name].send_signal(signal.SIGKILL)
                procs[name].wait(timeout=10)
                procs[name] = deployment.start_runner(name, verbose=True, wait=False)
                kills += 1
        wall = time.monotonic() - started
        jobs = [store.get(i) for i in ids]
        redone = sum(redone_per_job(sorted(deployment.home.glob("*.log"))).values())
        return len(jobs), kills, sum(j.attempts for j in jobs), redone, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--max-kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        long = looped(DATA / "sample.wav", 6, Path(scratch))
        files = [long] * 3 + [DATA / "jfk.flac"] * 17 + [DATA / "sample.wav"] * 10
        calm = run(files, 3, 0, 0, args.seed)
        chaos = run(files, 3, args.kill_every, args.max_kills, args.seed)
    rows = [("undisturbed", *calm[:3], "-", calm[4]),
            (f"kill every {args.kill_every:g} s", *chaos[:3], chaos[3] / max(1, chaos[1]), chaos[4])]
    print("30 jobs (3 x 3 min, 17 x 11 s, 10 x 30 s), 3 runners x 1 thread, tiny.en")
    print_table(["run", "jobs", "kills", "attempts", "audio s redone per kill", "wall s"], rows)
    print(f"wall time with kills / undisturbed: {chaos[4] / calm[4]:.2f}")


if __name__ == "__main__":
    main()
