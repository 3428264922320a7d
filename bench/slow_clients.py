"""The web under slow clients and upload bursts: how fast ``/healthz`` and ``/api/jobs`` answer meanwhile.

Starts gunicorn with the repository's config (webui/gunicorn_conf.py) on a temporary home, then, one
after another, while a monitor reads /healthz and /api/jobs in turn every 0.1 s on new connections:

1. 12 slow bodies: POST /api/jobs announcing 1 GiB, then one byte a second;
2. 50 slow bodies, the same;
3. 50 slow request heads: the request line, then one byte a second of a header that never ends;
4. 200 uploads of a 3 s recording (jfk.flac cut by ffmpeg, 16 kHz mono) started together.

Prints one Markdown row per scenario: what the slow clients or uploads got, and the reads' p50, max
and failures. ``--code DIR`` serves another checkout (e.g. the code before the fix) for comparison.

    .venv/bin/python bench/slow_clients.py                    # about 1 minute
    .venv/bin/python bench/slow_clients.py --code /path/to/old/checkout

Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import DATA, ROOT, Deployment, print_table, wait_until
from status_latency import BIN, answers, free_port, stop

sys.path.insert(0, str(ROOT / "tests"))
from slowload import burst, multipart, slow_clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to serve (default: this one)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the slow clients send")
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--slots", help="SPOOLSCRIBE_WEB_UPLOAD_SLOTS (default: the setting's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "jfk3.wav"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(DATA / "jfk.flac"), "-t", "3", "-ac", "1", "-ar",
                        "16000", str(clip)], check=True, timeout=60)
        body = multipart("jfk3.wav", clip.read_bytes())
        with Deployment(**({"SPOOLSCRIBE_WEB_UPLOAD_SLOTS": args.slots} if args.slots else {})) as site:
            port = free_port()
            with open(site.home / "web.log", "ab") as log:  # in the checkout served: its webui is imported
                web = subprocess.Popen([str(BIN / "gunicorn"), "-c", str(args.code / "webui" / "gunicorn_conf.py"),
                                        "--bind", f"127.0.0.1:{port}", "webui:create_app()"],
                                       env={**site.env, "PYTHONPATH": str(args.code)}, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=args.code, start_new_session=True)
            url = f"http://127.0.0.1:{port}"
            rows = []
            try:
                wait_until(lambda: answers(port), 60, interval=0.2)
                log = (site.home / "web.log").read_text().splitlines()
                print(next(line for line in log if "Using worker" in line), file=sys.stderr)
                for count, what in ((12, "bodies"), (50, "bodies"), (50, "heads")):
                    print(f"{count} slow {what} for {args.seconds:.0f} s ...", file=sys.stderr)
                    outcomes, watch = slow_clients(url, count, args.seconds, head_only=what == "heads")
                    rows.append([f"{count} slow {what}", dict(sorted(outcomes.items(), key=str)), watch.summary()])
                print(f"{args.uploads} uploads at once ...", file=sys.stderr)
                statuses, watch, retries, slowest = burst(url, args.uploads, body)
                got = f"{dict(sorted(statuses.items()))}, slowest {slowest:.1f} s, Retry-After {sorted(set(retries))}"
                rows.append([f"{args.uploads} uploads at once", got, watch.summary()])
            finally:
                stop(web)
    print_table(["scenario", "clients got", "/healthz and /api/jobs meanwhile"], rows)


if __name__ == "__main__":
    main()
