"""The disk guard: below the free-space floor a runner claims nothing, says so once (log, heartbeat
state, the page, /healthz, status), and works again with a lower floor or once space returns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import job_bound, wait_for

from runner.core.settings import Settings
from webui import create_app

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


PAUSED = "not claiming jobs"


def runner_record(app, name: str):
    return next((record for record in app.store.runners() if record.name == name), None)


def still_waits(app, runner, job_id: str, name: str) -> None:
    """The runner reports ``paused`` for three more heartbeats, the job stays queued, one log line."""
    first = wait_for(lambda: (r := runner_record(app, name)) is not None and r.state == "paused" and r, 30,
                     what="the runner to report paused")
    wait_for(lambda: runner_record(app, name).heartbeat_at >= first.heartbeat_at + timedelta(seconds=3), 30,
             what="three more heartbeats")
    assert app.store.get(job_id).status == "queued"
    assert runner.log_path.read_text().count(PAUSED) == 1


def test_above_the_free_space_a_runner_claims_nothing_until_the_floor_is_lowered(app, env, cli, media, runners):
    job_id = cli("submit", str(media / "jfk3.wav")).stdout.strip()
    floor = {"SPOOLSCRIBE_MIN_FREE_BYTES": str(1 << 60)}
    runner = runners("guarded", extra_env=floor)
    wait_for(lambda: PAUSED in runner.log_path.read_text(), 60, what="the runner to say it pauses")
    still_waits(app, runner, job_id, "guarded")
    assert "(SPOOLSCRIBE_MIN_FREE_BYTES)" in runner.log_path.read_text()

    client = create_app(Settings.from_env({**env, **floor})).test_client()
    health = client.get("/healthz").json
    assert health["status"] == "ok" and health["disk_low"] is True
    assert [space["name"] for space in health["disk"] if space["low"]] == ["spool", "outputs"]
    assert "runners claim no job" in health["warnings"][0]
    page = client.get("/").get_data(as_text=True)
    assert "disk space is low, runners claim no new job" in page and "guarded paused" in page
    assert "(LOW)" in cli("status", extra_env=floor).stdout

    runner.terminate()
    runner.wait(timeout=30)
    done = cli("runner", "--burst")  # the default floor (1 GiB) is far below this machine's free space
    assert done.returncode == 0, done.stderr
    assert app.store.get(job_id).status == "succeeded"
    assert create_app(app.settings).test_client().get("/healthz").json["disk_low"] is False


def test_a_runner_resumes_by_itself_when_space_returns(home, tmpfs, app, cli, media, runners):
    small_outputs = tmpfs(home / "outputs", "2m")
    filler = small_outputs / ".filler"
    filler.write_bytes(b"\0" * (1536 * 1024))  # 0.5 MiB of 2 MiB left, below the 1 MiB floor
    floor = {"SPOOLSCRIBE_MIN_FREE_BYTES": str(1 << 20)}
    job_id = cli("submit", str(media / "jfk3.wav")).stdout.strip()
    runner = runners("tight", extra_env=floor)
    wait_for(lambda: PAUSED in runner.log_path.read_text(), 60, what="the runner to say it pauses")
    still_waits(app, runner, job_id, "tight")
    assert f"free for outputs ({small_outputs})" in runner.log_path.read_text()

    filler.unlink()
    wait_for(lambda: app.store.get(job_id).status == "succeeded", job_bound(app.settings, 3.0),
             what="the job to run once space returned")
    log = runner.log_path.read_text()
    assert "disk space is back above the floor; claiming jobs again" in log and log.count(PAUSED) == 1
    assert runner.poll() is None
