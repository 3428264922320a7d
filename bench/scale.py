"""Scale: several runner processes on one job store, SQLite against PostgreSQL.

For each store (SQLite in the home, or a throw-away PostgreSQL server started from Debian's
``postgresql`` binaries by tests/postgres_server.py with PostgreSQL's default durability, or
``--postgres-url``) and each recognizer (the
tests' fake one, which answers at once, so the store is the bottleneck; and the real tiny.en model),
``--runners`` runner processes take ``--jobs`` short jobs (2 s of speech) submitted at ``--rate`` jobs
per second, while a reader requests the jobs page and a job's JSON (Flask's test client, no HTTP)
as fast as it can. Prints one table:

- exactly once: every job succeeded, claimed once, its outputs written once, the spool empty;
- claim latency p50/p99 in ms: a job's ``started_at`` minus its ``created_at`` (both from the
  database's clock), i.e. from submission to running;
- store writes per second: committed write transactions of the runners and the submitter (counted
  with SQLAlchemy's ``commit`` event in each process) over the run's wall time;
- status p99 in ms: the reader's requests meanwhile.

    .venv/bin/python bench/scale.py                              # fake and tiny.en, both stores
    .venv/bin/python bench/scale.py --recognizer fake --jobs 50  # a quick look

Only local processes, files and a unix socket are involved.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness import DATA, ROOT, Deployment, print_table, wait_until
from sqlalchemy import event

sys.path.insert(0, str(ROOT / "tests"))

from fakes import FakeRecognizer  # noqa: E402
from postgres_server import PostgresServer, postgres_bin  # noqa: E402

from runner.cli.app import App  # noqa: E402
from runner.core.settings import Settings  # noqa: E402
from runner.core.states import JobStatus  # noqa: E402

HEADERS = ("store", "recognizer", "runners", "jobs", "exactly once", "claim p50 ms", "claim p99 ms",
           "writes/s", "status requests", "status p99 ms", "wall s")
FORMATS = ("txt", "json")


def count_commits(engine) -> list[int]:
    """A one-item list counting the transactions committed on ``engine`` from now on."""
    count = [0]

    def committed(_conn) -> None:
        count[0] += 1

    event.listen(engine, "commit", committed)
    return count


def runner_process(name: str, recognizer: str) -> int:
    """Run one runner (this file started with ``--runner``) until SIGTERM, then write its commit count
    to ``<home>/<name>.writes``."""
    from runner.daemon.loop import Runner

    settings = Settings.from_env()
    app = App(settings)
    writes = count_commits(app.store.engine)
    if recognizer == "fake":
        engine = FakeRecognizer()
    else:
        from runner.daemon.transcribe import Engine

        engine = Engine(settings)
    code = Runner(settings, app.store, app.spool, engine, name).run()
    (settings.home / f"{name}.writes").write_text(str(writes[0]))
    return code


@contextlib.contextmanager
def reader(app: App, job_id: str) -> Iterator[list[float]]:
    """Request the jobs page and a job's JSON in a loop in a thread; yields the latencies (s)."""
    from webui import create_app

    client = create_app(app.settings).test_client()
    latencies: list[float] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            for path in ("/", f"/api/jobs/{job_id}"):
                started = time.perf_counter()
                assert client.get(path).status_code == 200
                latencies.append(time.perf_counter() - started)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        stop.set()
        thread.join(timeout=30)


def scenario(store: str, url: str, recognizer: str, runners: int, jobs: int, rate: float, clip: Path) -> list:
    """One row of the table."""
    env = {"SPOOLSCRIBE_THREADS": "1", "SPOOLSCRIBE_HEARTBEAT_INTERVAL": "2", "SPOOLSCRIBE_RESCAN_INTERVAL": "5",
           **({"SPOOLSCRIBE_DATABASE_URL": url} if url else {})}
    with Deployment(**env) as deployment:
        app = deployment.app
        submitted = count_commits(app.store.engine)
        processes = []
        for index in range(runners):
            name = f"{store}-{recognizer}-{index + 1}"
            with open(deployment.home / f"{name}.log", "ab") as log:
                process = subprocess.Popen([sys.executable, __file__, "--runner", name, "--recognizer", recognizer],
                                           env=deployment.env, stdout=log, stderr=subprocess.STDOUT)
            deployment.runners[name] = process  # killed on the way out if anything fails
            processes.append((name, process))
        wait_until(lambda: sum(r.state == "idle" for r in app.store.runners()) == runners, 300, 0.1)
        ids: list[str] = []
        started = time.monotonic()
        first, _ = deployment.submit(clip, formats=list(FORMATS), language="en")
        ids.append(first)
        with reader(app, first) as latencies:
            for index in range(1, jobs):
                time.sleep(max(0.0, started + index / rate - time.monotonic()))
                ids.append(deployment.submit(clip, formats=list(FORMATS), language="en")[0])
            deployment.wait_finished(ids, 600 + jobs * (0.1 if recognizer == "fake" else 10))
        wall = time.monotonic() - started
        for _name, process in processes:
            process.send_signal(signal.SIGTERM)
        for _name, process in processes:
            process.wait(timeout=60)
        writes = submitted[0] + sum(int((deployment.home / f"{name}.writes").read_text()) for name, _ in processes)
        rows = [app.store.get(job_id) for job_id in ids]
        once = (all(job.status == JobStatus.SUCCEEDED and job.attempts == 1 for job in rows)
                and all(sorted(os.listdir(app.settings.outputs_dir / job.id)) == sorted(
                    Path(p).name for p in job.outputs) and len(job.outputs) == len(FORMATS) for job in rows)
                and app.spool.pending() == [] and app.spool.claimed() == [])
        claims = sorted((job.started_at - job.created_at).total_seconds() * 1000 for job in rows)
        status = sorted(latency * 1000 for latency in latencies)
        return [store, recognizer, runners, jobs, "yes" if once else "NO", statistics.median(claims),
                claims[min(len(claims) - 1, int(0.99 * len(claims)))], writes / wall, len(status),
                status[min(len(status) - 1, int(0.99 * len(status)))], wall]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runners", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="jobs submitted per second (default: 20 with the fake recognizer, 2 with tiny.en)")
    parser.add_argument("--recognizer", choices=("fake", "tiny.en", "both"), default="both")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default="",
                        help="a PostgreSQL database to use (default: a throw-away server)")
    parser.add_argument("--runner", help=argparse.SUPPRESS)  # internal: run one runner process
    args = parser.parse_args()
    if args.runner:
        sys.exit(runner_process(args.runner, args.recognizer))

    stores = ("sqlite", "postgresql") if args.store == "both" else (args.store,)
    recognizers = ("fake", "tiny.en") if args.recognizer == "both" else (args.recognizer,)
    server = None
    if "postgresql" in stores and not args.postgres_url:
        bin_dir = postgres_bin()
        if bin_dir is None:
            sys.exit("PostgreSQL's server programs are not installed (Debian package postgresql)")
        server = PostgresServer(bin_dir, durable=True)  # fsync and synchronous commit, as in production
    try:
        clip_dir = Path(os.environ.get("TMPDIR", "/tmp"))
        clip = clip_dir / "spoolscribe-scale-clip.wav"
        if not clip.exists():
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(DATA / "jfk.flac"), "-t", "2",
                            "-ar", "16000", "-ac", "1", str(clip)], check=True, timeout=60)
        rows = []
        for recognizer in recognizers:
            for store in stores:
                url = "" if store == "sqlite" else (args.postgres_url or server.fresh_database())  # type: ignore[union-attr]
                rate = args.rate or (20.0 if recognizer == "fake" else 2.0)
                rows.append(scenario(store, url, recognizer, args.runners, args.jobs, rate, clip))
                print(f"done: {store} {recognizer} ({rows[-1][-1]:.0f} s)", file=sys.stderr, flush=True)
        print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", file=sys.stderr)
        print_table(HEADERS, rows)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
