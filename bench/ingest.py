"""Inbox latency and burst: how soon a stable file is queued, and 1,000 files dropped at once.

Runs a real ``spoolscribe ingest`` process on a throw-away inbox (no runner is needed):

- latency: --files small files written one by one (0.25 s apart); for each, the time from the file
  becoming stable (its last write + the quiet period) to its job's row being created;
- burst: --burst small files written as fast as possible; the time from the last write until all
  are queued, and a check that each is queued exactly once (also after two more quiet periods).

With ``--watch-limit N`` the daemon runs in a user namespace allowed N inotify watches (Linux 5.11
and later; ``unshare -U -r``), below an inbox of ``--folders`` folders made beforehand: the files go
to folders created later, beyond the limit, which the daemon polls every poll interval.

    .venv/bin/python bench/ingest.py            # 100 + 1,000 files, about a minute
    .venv/bin/python bench/ingest.py --watch-limit 50 --folders 300
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import struct
import subprocess
import time
import wave
from pathlib import Path

from harness import SPOOLSCRIBE, Deployment, epoch, print_table, wait_until


def small_wav(number: int) -> bytes:
    """0.1 s of 16 kHz mono audio whose samples encode ``number`` (every file's content differs)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(struct.pack("<q", number) * 400)
    return buffer.getvalue()


def inbox_jobs(deployment: Deployment) -> dict[str, object]:
    """Inbox jobs by their source path."""
    return {job.inbox_path: job for job in deployment.app.store.list(limit=100_000) if job.source == "inbox"}


def measure_latency(deployment: Deployment, inbox: Path, files: int, quiet: float) -> list[float]:
    """Milliseconds from stable to queued, one value per file."""
    folder = inbox / "latency"
    folder.mkdir()
    written: dict[str, float] = {}
    for number in range(files):
        path = folder / f"file {number:04d}.wav"
        path.write_bytes(small_wav(number))
        written[str(path)] = time.time()
        time.sleep(0.25)
    jobs = wait_until(lambda: len(found := inbox_jobs(deployment)) >= files and found, 60)
    return [(epoch(jobs[path].created_at) - (at + quiet)) * 1000 for path, at in written.items()]


def measure_burst(deployment: Deployment, inbox: Path, files: int, quiet: float) -> tuple[float, int, int]:
    """Seconds from the last write until all ``files`` are queued; jobs then; distinct files with a job
    after two more quiet periods (negative: the number of jobs, when a file had two)."""
    folder = inbox / "burst"
    folder.mkdir()
    store = deployment.app.store
    before = sum(store.counts().values())
    for number in range(files):
        (folder / f"drop {number:05d}.wav").write_bytes(small_wav(1_000_000 + number))
    last_write = time.time()
    wait_until(lambda: sum(store.counts().values()) - before >= files, 300, 0.05)
    elapsed = time.time() - last_write
    queued = sum(store.counts().values()) - before
    time.sleep(2 * quiet + 1)
    paths = [job.inbox_path for job in store.list(limit=100_000) if job.inbox_path.startswith(str(folder))]
    return elapsed, queued, len(set(paths)) if len(paths) == len(set(paths)) else -len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100, help="files for the latency measurement")
    parser.add_argument("--burst", type=int, default=1000, help="files dropped at once")
    parser.add_argument("--quiet", type=float, default=1.0, help="quiet period (seconds)")
    parser.add_argument("--polling", action="store_true", help="use the polling observer")
    parser.add_argument("--watch-limit", type=int, default=0, help="inotify watches allowed (0: the system's)")
    parser.add_argument("--folders", type=int, default=300, help="folders made beforehand with --watch-limit")
    args = parser.parse_args()
    quiet = str(args.quiet)
    with Deployment(SPOOLSCRIBE_INBOX_QUIET=quiet, SPOOLSCRIBE_INBOX_CLOSE_QUIET=quiet,
                    SPOOLSCRIBE_INBOX_POLLING="1" if args.polling else "0") as deployment:
        inbox = deployment.app.settings.inbox_dir
        inbox.mkdir()
        wrapper: tuple[str, ...] = ()
        if args.watch_limit:
            for number in range(args.folders):
                (inbox / f"client {number}").mkdir()
            wrapper = ("unshare", "-U", "-r", "sh", "-c",
                       f'echo {args.watch_limit} > /proc/sys/user/max_inotify_watches && exec "$@"', "sh")
        _ = deployment.app.store  # migrate before the daemon starts
        log_path = deployment.home / "ingest.log"
        with open(log_path, "ab") as log:
            daemon = subprocess.Popen([*wrapper, SPOOLSCRIBE, "ingest", "--name", "bench"], env=deployment.env,
                                      stdout=log, stderr=subprocess.STDOUT)
        deployment.runners["ingest"] = daemon  # stopped with the deployment
        wait_until(lambda: "watching" in log_path.read_text(), 60, 0.05)
        latencies = measure_latency(deployment, inbox, args.files, args.quiet)
        elapsed, queued, later = measure_burst(deployment, inbox, args.burst, args.quiet)
        logged = log_path.read_text()
        mode = "polling" if args.polling else "inotify"
        target = "< 1000 ms"
        if args.watch_limit:
            poll = deployment.app.settings.inbox_poll_interval
            mode += (f", {args.watch_limit} watches for {args.folders + 1} folders: the files' folders are "
                     f"beyond the limit, polled every {poll:g} s")
            target = f"< {poll * 1000 + 1000:.0f} ms"
            assert "inotify watch limit is reached" in logged, logged
        cpus = os.cpu_count()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"inbox latency: stable (last write + {args.quiet:g} s quiet period) to queued, "
          f"{len(latencies)} files 0.25 s apart ({mode}, {cpus} CPUs)")
    print_table(["files", "median ms", "p95 ms", "p99 ms", "max ms", "target"],
                [(len(latencies), statistics.median(latencies), cuts[94], cuts[98], max(latencies), target)])
    print()
    print(f"burst: {args.burst} files of {len(small_wav(0))} bytes written at once")
    print_table(["files", "all queued after last write s", "of which quiet period s", "files/s", "jobs",
                 "files with one job, 2 quiet periods later", "exactly once"],
                [(args.burst, elapsed, args.quiet, args.burst / elapsed, queued, later,
                  "yes" if queued == later == args.burst else "NO")])
    if "Traceback" in logged:
        print("\nthe daemon logged a traceback:\n" + logged)


if __name__ == "__main__":
    main()
