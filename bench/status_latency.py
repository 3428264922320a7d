"""Status latency while runners saturate the CPUs: spoolscribe's split design against the flawed one.

Three scenarios, each polled by an open-loop client at --rate requests per second for --seconds
over loopback, alternating ``GET /api/jobs/<id>`` and the jobs page ``GET /``:

1. spoolscribe (gunicorn with webui/gunicorn_conf.py) with two idle runner processes;
2. the same while both runners transcribe recordings of at least 5 minutes (sample.wav repeated),
   one CPU thread each, so both cores are busy (runners lower their priority, nice 10 by default);
3. the baseline of the flawed design: the same app in one gunicorn worker that also runs two
   faster-whisper transcriptions in threads of its own process (no separate runner, no nice).

Prints one table: requests, p50/p95/p99/max latency in ms, requests over 5 s, errors, the share of
the CPUs in use and the 1-minute load average during the window (other work on the machine shows
there), and the largest web worker RSS. Uses bench/harness.py (temporary homes, runner processes).

    .venv/bin/python bench/status_latency.py                # about 4 minutes
    .venv/bin/python bench/status_latency.py --seconds 10   # a quick look

Only 127.0.0.1 is contacted. faster-whisper is imported here only for the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import (
    DATA,
    ROOT,
    Deployment,
    looped,
    offline_model,
    print_table,
    wait_until,
)

BIN = Path(sys.executable).parent
SLOW_SECONDS = 5.0
REQUEST_TIMEOUT = 30.0
HEADERS = ("scenario", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "> 5 s", "errors", "CPU busy",
           "load avg", "web RSS")


@dataclass
class Result:
    """One scenario's measurements: latencies in seconds, failures, the CPU share in use (0..1), the
    1-minute load average at the end, and the largest web worker RSS in bytes."""

    name: str
    latencies: list[float]
    errors: int
    cpu_busy: float
    load: float
    worker_rss: int

    def p99_ms(self) -> float:
        return self.percentiles()[98]

    def percentiles(self) -> list[float]:
        ms = sorted(value * 1000 for value in self.latencies)
        return statistics.quantiles(ms, n=100, method="inclusive")

    def row(self) -> list[str]:
        cuts = self.percentiles()
        return [self.name, str(len(self.latencies) + self.errors), f"{cuts[49]:.1f}", f"{cuts[94]:.1f}",
                f"{cuts[98]:.1f}", f"{max(self.latencies) * 1000:.1f}",
                str(sum(value > SLOW_SECONDS for value in self.latencies)), str(self.errors),
                f"{self.cpu_busy * 100:.0f}%", f"{self.load:.1f}", f"{self.worker_rss / 2**20:.0f} MiB"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def children_rss(pid: int) -> int:
    """Largest RSS (bytes) among the direct children of ``pid`` (gunicorn's workers)."""
    largest = 0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    for child in children:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]) * 1024)
    return largest


def answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def one_request(port: int, path: str) -> float | None:
    """Latency in seconds of one GET on a new connection, or None on an error or a bad status."""
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
    except OSError:
        return None
    return time.perf_counter() - started if response.status == 200 else None


def poll(name: str, port: int, job_id: str, rate: float, seconds: float, web_pid: int) -> Result:
    """Open-loop load: request i is sent at start + i / rate, whatever the earlier ones do."""
    paths = [f"/api/jobs/{job_id}", "/"]
    count = int(rate * seconds)
    busy_before, total_before = cpu_times()
    rss = 0
    with ThreadPoolExecutor(max_workers=128) as pool:
        start = time.perf_counter()
        futures = []
        for index in range(count):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one_request, port, paths[index % 2]))
            if index % int(rate) == 0:
                rss = max(rss, children_rss(web_pid))
        results = [future.result() for future in futures]
    busy_after, total_after = cpu_times()
    latencies = [value for value in results if value is not None]
    return Result(name, latencies, len(results) - len(latencies),
                  (busy_after - busy_before) / max(1, total_after - total_before), os.getloadavg()[0], rss)


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a server process in a session of its own (so that its workers stop with it)."""
    with open(log, "ab") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's whole session; SIGKILL whatever is left after 30 s."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)


def split_design(args: argparse.Namespace, recording: Path) -> list[Result]:
    """Scenarios 1 and 2: gunicorn with the repository's config, plus two runner processes."""
    from runner.jobs.submit import cancel

    with Deployment(SPOOLSCRIBE_NICE=str(args.nice), SPOOLSCRIBE_RUNNERS="2", SPOOLSCRIBE_MODEL=args.model) as site:
        store, port = site.app.store, free_port()
        web = start([str(BIN / "gunicorn"), "-c", str(ROOT / "webui" / "gunicorn_conf.py"), "--bind",
                     f"127.0.0.1:{port}", "webui:create_app()"], site.env, site.home / "web.log")
        try:
            wait_until(lambda: answers(port), 60, 0.2)
            idle_job, _ = site.submit(recording, language="en")
            cancel(store, site.app.spool, idle_job)
            for number in (1, 2):
                site.start_runner(f"bench-{number}")
            print(f"polling for {args.seconds:.0f} s with idle runners ...", file=sys.stderr)
            idle = poll("spoolscribe, 2 runners idle", port, idle_job, args.rate, args.seconds, web.pid)

            for _ in range(args.jobs):
                site.submit(recording, language="en")
            wait_until(lambda: store.counts()["running"] == 2, 120, 0.1)
            running = store.list(status="running", limit=1)[0]
            print(f"polling for {args.seconds:.0f} s while both runners transcribe ...", file=sys.stderr)
            busy = poll("spoolscribe, 2 runners transcribing", port, running.id, args.rate, args.seconds, web.pid)
            if store.counts()["running"] < 2:
                print("warning: a runner ran out of work before the end of the window; raise --jobs", file=sys.stderr)
            return [idle, busy]
        finally:
            stop(web)


# -- the baseline: transcription in threads of the web process ------------------------------------------

def serve_inline(port: int, home: Path, recording: Path, model: str, ready: Path) -> None:
    """Serve the same app from one gunicorn worker that also transcribes in two threads of its own."""
    from gunicorn.app.base import BaseApplication

    def transcribe_forever() -> None:
        from faster_whisper import WhisperModel

        engine = WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=1)
        while True:
            segments, _info = engine.transcribe(str(recording), language="en", vad_filter=True)
            for _segment in segments:
                ready.touch()

    def post_worker_init(_worker) -> None:
        for _ in range(2):
            threading.Thread(target=transcribe_forever, daemon=True).start()

    class Inline(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "gthread", "threads": 4,
                               "post_worker_init": post_worker_init, "control_socket_disable": True}.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            from runner.core.settings import Settings
            from webui import create_app

            return create_app(Settings.from_env({"SPOOLSCRIBE_HOME": str(home)}))

    Inline().run()


def baseline(args: argparse.Namespace, recording: Path) -> Result:
    """Scenario 3: the flawed design, whisper in threads of the web process."""
    with Deployment(SPOOLSCRIBE_MODEL=args.model) as site:
        job, _ = site.submit(recording, language="en")
        port, ready = free_port(), site.home / "inline-transcribing"
        server = start([sys.executable, __file__, "--serve-inline", str(port), str(site.home), str(recording),
                        args.model, str(ready)], site.env, site.home / "inline.log")
        try:
            wait_until(lambda: answers(port) and ready.exists(), 120, 0.2)
            print(f"polling for {args.seconds:.0f} s the baseline (whisper in the web process) ...", file=sys.stderr)
            return poll("baseline: whisper in a web thread", port, job, args.rate, args.seconds, server.pid)
        finally:
            stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="polling window per scenario (s)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the recording (min)")
    parser.add_argument("--jobs", type=int, default=8, help="recordings queued for the busy scenario")
    parser.add_argument("--nice", type=int, default=10, help="niceness the runners add to themselves")
    parser.add_argument("--model", default=None, help="faster-whisper model (default: tiny.en, offline)")
    parser.add_argument("--serve-inline", nargs=5, metavar=("PORT", "HOME", "RECORDING", "MODEL", "READY"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_inline:
        port, home, recording, model, ready = args.serve_inline
        serve_inline(int(port), Path(home), Path(recording), model, Path(ready))
        return
    args.model = args.model or offline_model()
    with Deployment() as scratch:
        recording = looped(DATA / "sample.wav", max(1, round(args.minutes * 2)), scratch.home)  # 30 s each
        results = [*split_design(args, recording), baseline(args, recording)]
    print(f"\n{args.rate:.0f} requests/s for {args.seconds:.0f} s per scenario, alternating GET /api/jobs/<id> and "
          f"GET / (jobs page), over loopback; {os.cpu_count()} CPUs; {recording.name} "
          f"({args.minutes:.0f} min); runners at nice {args.nice}\n")
    print_table(HEADERS, [result.row() for result in results])
    busy = results[1]
    met = busy.p99_ms() <= 50 and max(busy.latencies) <= SLOW_SECONDS and busy.errors == 0
    print(f"\ntarget under load (p99 <= 50 ms, no request over 5 s, no error): {'met' if met else 'NOT met'} "
          f"(p99 {busy.p99_ms():.1f} ms)")


if __name__ == "__main__":
    main()
