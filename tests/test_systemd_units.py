"""Each installed unit's ExecStart= started as a real process, as systemd would build it from the
unit file, its drop-ins, Environment= and the EnvironmentFile (here pointed at a temporary home).

systemd is not PID 1 on the test machines, so the sandbox and User= are not applied here; the
units' syntax is checked by test_systemd_install (systemd-analyze verify / security).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import unit_exec, wait_for

from runner.core.db import alembic_config, make_engine, schema_revisions
from runner.core.options import JobOptions
from runner.core.states import ENDED, JobStatus
from runner.jobs.submit import submit_path

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


TIMESTAMP = re.compile(r"^\[?\d{4}-\d\d-\d\d")


@pytest.fixture
def configured_root(systemd_root: Path, home: Path, model_path: str, tmp_path: Path) -> Path:
    """The installed root with this test's data root, inbox and model in its spoolscribe.env,
    appended the way an administrator edits the file (later lines win)."""
    env_file = systemd_root / "etc/spoolscribe/spoolscribe.env"
    settings = {
        "SPOOLSCRIBE_HOME": home, "SPOOLSCRIBE_INBOX": tmp_path / "inbox", "HF_HOME": tmp_path / "hf",
        "SPOOLSCRIBE_MODEL": model_path, "SPOOLSCRIBE_THREADS": 1, "SPOOLSCRIBE_RESCAN_INTERVAL": 1,
        "SPOOLSCRIBE_HEARTBEAT_INTERVAL": 1, "SPOOLSCRIBE_INBOX_QUIET": 0.5, "SPOOLSCRIBE_INBOX_CLOSE_QUIET": 0.5,
        "SPOOLSCRIBE_WEB_BIND": "127.0.0.1:0", "SPOOLSCRIBE_WEB_WORKERS": 1,
        "SPOOLSCRIBE_COMPAT_BIND": "127.0.0.1:0", "SPOOLSCRIBE_COMPAT_WORKERS": 1,
        "SPOOLSCRIBE_WEB_TOKEN": "unit-token-0123456789",
    }
    if os.environ.get("PYTHONPATH"):  # a worktree's checkout: the units run its code, as the other tests do
        settings["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with open(env_file, "a") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in settings.items())
    (tmp_path / "inbox").mkdir()
    return systemd_root


@pytest.fixture
def start_unit(configured_root: Path, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """``start(unit)``: the unit's ExecStart= as a process (own session, output in tmp_path/<unit>.<n>.log);
    the Popen has ``log()`` and ``stop_timeout`` (the unit's TimeoutStopSec= in seconds). Every
    process group is killed after the test."""
    started: list[subprocess.Popen] = []

    def start(unit: str) -> subprocess.Popen:
        argv, env, workdir, settings = unit_exec(configured_root, unit)
        log_path = tmp_path / f"{unit}.{len(started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(argv, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        process.log = lambda: log_path.read_text(errors="replace")  # type: ignore[attr-defined]
        process.stop_timeout = float(settings.get("TimeoutStopSec", "90"))  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):  # the whole group: gunicorn's workers too
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def run_unit(start_unit: Callable[..., subprocess.Popen], unit: str, timeout: float = 120) -> tuple[int, str]:
    """Start a unit that ends by itself (a oneshot, or one that refuses to start); its code and log."""
    process = start_unit(unit)
    return process.wait(timeout=timeout), process.log()


def stop(process: subprocess.Popen) -> int:
    """SIGTERM, as systemctl stop sends it (KillMode=mixed: to the main process); the exit code,
    which must come within the unit's TimeoutStopSec."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=process.stop_timeout)  # type: ignore[attr-defined]


def assert_journal_lines(log: str) -> None:
    """No line carries a timestamp of its own: the journal adds one."""
    stamped = [line for line in log.splitlines() if TIMESTAMP.match(line)]
    assert not stamped, stamped


def test_migrate_unit_upgrades_once_and_then_changes_nothing(start_unit, app) -> None:
    engine = make_engine(app.settings.database_url)
    head = schema_revisions(engine)[1]
    engine.dispose()

    code, first = run_unit(start_unit, "spoolscribe-migrate.service")
    assert code == 0, first
    assert f"database at revision {head} (was empty)" in first, first
    code, second = run_unit(start_unit, "spoolscribe-migrate.service")
    assert code == 0, second
    assert f"database at revision {head}" in second and "(was" not in second, second
    assert "migrating" not in second
    engine = make_engine(app.settings.database_url)
    assert schema_revisions(engine) == (head, head)
    engine.dispose()
    assert_journal_lines(first + second)


def test_runner_unit_completes_a_job_and_stops_within_its_timeout(start_unit, app, media: Path) -> None:
    code, log = run_unit(start_unit, "spoolscribe-migrate.service")
    assert code == 0, log
    runner = start_unit("spoolscribe-runner@1.service")
    job = submit_path(app.store, app.spool, media / "jfk3.wav", JobOptions(language="en"))

    def ended():
        found = app.store.get(job.id)
        return found if found.status in ENDED else None

    done = wait_for(ended, 180, interval=0.5, what="the runner unit to finish the job")
    assert done.status == JobStatus.SUCCEEDED.value, (done.error, runner.log())
    assert done.runner == f"{socket.gethostname()}-1"  # the host and instance names, %H-%i
    assert all(Path(path).is_file() for path in done.outputs)
    assert stop(runner) == 0
    log = runner.log()
    assert_journal_lines(log)
    job_lines = [line for line in log.splitlines() if job.id in line]
    assert job_lines and all(f"runner {socket.gethostname()}-1: job {job.id}" in line for line in job_lines), job_lines



@pytest.mark.parametrize("schema", ["older", "newer"])
def test_runner_unit_refuses_a_schema_it_does_not_match(start_unit, app, schema: str) -> None:
    engine = make_engine(app.settings.database_url)  # creates an empty database: older than any revision
    if schema == "newer":
        from alembic import command

        command.upgrade(alembic_config(app.settings.database_url), "head")
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()

    code, log = run_unit(start_unit, "spoolscribe-runner@1.service")
    assert code == 1, log
    expected = "run `spoolscribe db upgrade`" if schema == "older" else "revision 9999, which this version"
    assert expected in log, log
    engine = make_engine(app.settings.database_url)
    assert schema_revisions(engine)[0] == (None if schema == "older" else "9999")  # nothing migrated
    engine.dispose()


def _answer_of(start_unit, unit: str, path: str) -> tuple[int, dict, str]:
    """Start ``unit`` (after the migrate unit), GET ``path`` from it once it listens, stop it
    (checking it stops within its timeout); return the status, the JSON body and the unit's log."""
    code, log = run_unit(start_unit, "spoolscribe-migrate.service")
    assert code == 0, log
    service = start_unit(unit)
    port = wait_for(lambda: re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", service.log()), 60,
                    what="gunicorn to listen").group(1)

    def answer():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, json.load(response)
        except OSError:
            return None

    status, body = wait_for(answer, 60, interval=0.3, what=f"{path} to answer")
    assert stop(service) == 0, service.log()
    assert_journal_lines(service.log())
    return status, body, service.log()


def test_web_unit_answers_healthz_and_stops_within_its_timeout(start_unit) -> None:
    status, body, _log = _answer_of(start_unit, "spoolscribe-web.service", "/healthz")
    assert status == 200 and body["status"] == "ok" and body["database"] == "ok", body


def test_compat_unit_answers_status_without_the_token_and_stops_within_its_timeout(start_unit) -> None:
    status, body, _log = _answer_of(start_unit, "spoolscribe-compat.service", "/status")
    assert status == 200 and body["service"] == "spoolscribe" and body["version"], body


def test_ingest_unit_picks_up_a_dropped_file(start_unit, app, media: Path, tmp_path: Path) -> None:
    code, log = run_unit(start_unit, "spoolscribe-migrate.service")
    assert code == 0, log
    ingest = start_unit("spoolscribe-ingest.service")
    wait_for(lambda: "watching" in ingest.log(), 60, what="the inbox daemon to watch")
    (tmp_path / "inbox" / "jfk3.wav").write_bytes((media / "jfk3.wav").read_bytes())

    jobs = wait_for(lambda: app.store.list(), 60, interval=0.3, what="a job from the inbox")
    assert [(job.original_name, job.source, job.status) for job in jobs] == [
        ("jfk3.wav", "inbox", JobStatus.QUEUED.value)], ingest.log()
    assert stop(ingest) == 0, ingest.log()
    log = ingest.log()
    assert_journal_lines(log)
    assert f"job {jobs[0].id} queued" in log, log
