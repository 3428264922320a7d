"""The operator's commands (jobs, retry, cancel, delete) on the same store and under the same rules
as the web: what each may do, what it refuses and why, and the exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import DATA

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


def test_jobs_lists_newest_first_by_status_and_age(cli, ended_job):
    old = ended_job("succeeded", days=2)  # submitted and ended two days ago
    failed = ended_job("failed", days=0)
    queued = cli("submit", str(DATA / "jfk.flac")).stdout.strip()
    listed = cli("jobs")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [queued, failed.id, old.id]
    row = next(line for line in listed.stdout.splitlines() if line.startswith(failed.id))
    assert row.split()[1] == "failed" and "11.0 s" in row and row.endswith("jfk.flac")
    assert "media " in row  # when its media goes (30 days after a failure, by default)
    assert [line.split()[0] for line in cli("jobs", "--since", "1d").stdout.splitlines()] == [queued, failed.id]
    assert [line.split()[0] for line in cli("jobs", "--status", "succeeded").stdout.splitlines()] == [old.id]
    assert [job["id"] for job in json.loads(cli("jobs", "--json", "--limit", "2").stdout)] == [queued, failed.id]
    assert cli("jobs", "--status", "done").returncode == 2


def test_cancel_retry_and_delete_follow_the_webs_rules(app, cli, ended_job, inbox, client):
    queued = cli("submit", str(DATA / "jfk.flac")).stdout.strip()
    done = ended_job("succeeded")
    source = inbox / "talk.wav"
    shutil.copy(DATA / "jfk.flac", source)
    from_inbox = ended_job("succeeded", name="talk.wav", inbox_source=source)

    refused = cli("delete", queued)
    assert refused.returncode == 1 and "cancel it before deleting it" in refused.stderr
    assert client.delete(f"/api/jobs/{queued}").status_code == 409  # the same rule on the web
    cancelled = cli("cancel", queued)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"{queued} cancelled (jfk.flac)"
    assert not (app.spool.new / f"{queued}.json").exists()
    again = cli("cancel", queued)
    assert again.returncode == 1 and "only a queued or running job can be cancelled" in again.stderr
    assert cli("retry", done.id).returncode == 1  # a succeeded job is not retried
    retried = cli("retry", queued)
    assert retried.returncode == 0 and app.store.get(queued).status == "queued"
    assert (app.spool.new / f"{queued}.json").exists()

    (app.spool.root / done.media_path).unlink()  # media gone from the spool: no retry, as on the web
    cli("cancel", queued)
    app.spool.media_path(app.store.get(queued).media_path).unlink()
    gone = cli("retry", queued)
    assert gone.returncode == 1 and "media is no longer in the spool" in gone.stderr
    assert client.post(f"/api/jobs/{queued}/retry").json["error"] == gone.stderr.strip().removeprefix("error: ")

    several = cli("delete", done.id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", from_inbox.id.lower())
    assert several.returncode == 1 and "no job with id 01ARZ3NDEKTSV4RRFFQ69G5FAV" in several.stderr
    assert several.stdout.splitlines() == [f"{done.id} deleted (jfk.flac)", f"{from_inbox.id} deleted (talk.wav)"]
    assert app.store.get(done.id) is None and not (app.settings.outputs_dir / done.id).exists()
    assert app.store.get(from_inbox.id) is None and not (app.spool.root / from_inbox.media_path).exists()
    assert source.read_bytes() == (DATA / "jfk.flac").read_bytes(), "the inbox source stays"
    assert not any(Path(path).exists() for path in done.outputs)
