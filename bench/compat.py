"""The compat service under the load it is made for: held requests, impatient clients, streaming.

One temporary home, two runner processes (tiny.en, one thread each), the web's gunicorn and the
compat gunicorn on loopback. Then, with the official ``openai`` client:

1. ``--clips`` different recordings (3 s of speech, padded with silences of different lengths), each
   asked twice at the same moment (2 x clips requests held at once); every client has a short
   timeout (``--timeout``) and two retries, as the official client retries after its own timeout
   (a request whose client left gives its slot back within a second; beyond the bound, 503 with
   Retry-After), then one patient retry. Meanwhile the jobs page ``GET /`` of the web is polled (``--rate`` per s).
2. One streamed request (``stream=true``) of sample.wav (30 s): the time to the first
   ``transcript.text.delta`` event and to ``transcript.text.done``.

Prints: requests answered, jobs created per different recording (1.0 means no retry and no
duplicate made a second job), transcriptions (claims) per job, the status page's p50/p99 while the
requests were held, and the streaming times.

    .venv/bin/python bench/compat.py                 # about 2 minutes on 2 cores
    .venv/bin/python bench/compat.py --clips 5       # a quick look

Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import DATA, ROOT, Deployment, print_table, wait_until
from status_latency import BIN, free_port, one_request, start, stop


def clips(count: int, directory: Path) -> list[Path]:
    """``count`` different 3 s recordings of speech (jfk.flac, then 0.1, 0.2, ... s of silence)."""
    made = []
    for number in range(count):
        clip = directory / f"clip{number}.wav"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-t", "3", "-i", str(DATA / "jfk.flac"), "-af",
                        f"apad=pad_dur={0.1 * (number + 1):.1f}", str(clip)], check=True, timeout=60)
        made.append(clip)
    return made


def ask(url: str, clip: Path, timeout: float) -> tuple[bool, bool]:
    """One request as an impatient client makes it: the official client with ``timeout`` and two
    retries, then one patient retry. Returns (answered, whether it had to retry after timeouts)."""
    import openai

    impatient = openai.OpenAI(api_key="bench", base_url=url + "/v1", max_retries=2, timeout=timeout)
    try:
        with open(clip, "rb") as audio:
            return bool(impatient.audio.transcriptions.create(model="whisper-1", file=audio).text), False
    except (openai.APITimeoutError, openai.InternalServerError):  # its own timeout, or 503: the server is full
        pass
    patient = openai.OpenAI(api_key="bench", base_url=url + "/v1", max_retries=3, timeout=600)
    with open(clip, "rb") as audio:
        return bool(patient.audio.transcriptions.create(model="whisper-1", file=audio).text), True


def streamed(url: str) -> tuple[float, float]:
    """Seconds from sending sample.wav with ``stream=true`` to the first delta and to the done event."""
    import openai

    client = openai.OpenAI(api_key="bench", base_url=url + "/v1", max_retries=0, timeout=600)
    first = None
    started = time.perf_counter()
    with open(DATA / "sample.wav", "rb") as audio:
        for event in client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True):
            if event.type == "transcript.text.delta" and first is None:
                first = time.perf_counter() - started
    return first or float("nan"), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10, help="different recordings, each asked twice at once")
    parser.add_argument("--timeout", type=float, default=6.0, help="seconds the impatient clients wait per try")
    parser.add_argument("--rate", type=float, default=10.0, help="status page requests per second")
    args = parser.parse_args()
    with Deployment(SPOOLSCRIBE_HEARTBEAT_INTERVAL="1", SPOOLSCRIBE_RESCAN_INTERVAL="1", SPOOLSCRIBE_THREADS="1",
                    SPOOLSCRIBE_COMPAT_MAX_WAITING=str(2 * args.clips)) as deployment:
        for name in ("bench1", "bench2"):
            deployment.start_runner(name)
        web_port, compat_port = free_port(), free_port()
        web = start([str(BIN / "gunicorn"), "-c", str(ROOT / "webui" / "gunicorn_conf.py"), "--bind",
                     f"127.0.0.1:{web_port}", "webui:create_app()"], deployment.env, deployment.home / "web.log")
        compat = start([str(BIN / "gunicorn"), "-c", str(ROOT / "webui" / "compat" / "gunicorn_conf.py"), "--bind",
                        f"127.0.0.1:{compat_port}", "--workers", "1", "webui.compat:create_app()"], deployment.env,
                       deployment.home / "compat.log")
        try:
            wait_until(lambda: one_request(web_port, "/healthz") and one_request(compat_port, "/status"), 60, 0.2)
            url = f"http://127.0.0.1:{compat_port}"
            recordings = clips(args.clips, deployment.home)
            latencies: list[float] = []
            done = threading.Event()

            def poll() -> None:
                while not done.is_set():
                    latency = one_request(web_port, "/")
                    latencies.append(float("inf") if latency is None else latency * 1000)
                    time.sleep(1 / args.rate)

            poller = threading.Thread(target=poll)
            poller.start()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=2 * args.clips) as pool:
                results = list(pool.map(lambda clip: ask(url, clip, args.timeout), recordings * 2))
            held_seconds = time.perf_counter() - started
            done.set()
            poller.join()
            jobs = deployment.app.store.list(limit=1000)
            first_delta, stream_done = streamed(url)
        finally:
            stop(compat)
            stop(web)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        print_table(("measure", "value"), [
            ("requests answered", f"{sum(ok for ok, _ in results)} / {len(results)}"),
            ("requests that timed out and retried", str(sum(retried for _, retried in results))),
            ("jobs created per different recording", f"{len(jobs) / len(recordings):.2f}"),
            ("transcriptions (claims) per job", f"{sum(job.attempts for job in jobs) / max(1, len(jobs)):.2f}"),
            ("seconds until every request was answered", f"{held_seconds:.1f}"),
            ("status page requests while held", str(len(latencies))),
            ("status page p50 / p99 ms while held", f"{cuts[49]:.1f} / {cuts[98]:.1f}"),
            ("stream: s to first transcript.text.delta", f"{first_delta:.2f}"),
            ("stream: s to transcript.text.done (30 s of audio)", f"{stream_done:.2f}"),
        ])


if __name__ == "__main__":
    sys.exit(main())
