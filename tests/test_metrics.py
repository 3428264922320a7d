"""Metrics: /metrics parses with the Prometheus client's own parser and its counters move after
jobs run (and never go down when jobs are deleted); ``spoolscribe status`` summarises the same."""

from __future__ import annotations

import json

import pytest
from alembic import command
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from runner.core.db import alembic_config, make_engine, open_database
from runner.core.settings import Settings
from runner.core.store import JobStore
from runner.jobs.metrics import snapshot
from webui import create_app


def scrape(client, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of every sample /metrics returns."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200 and response.content_type.startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.mark.slow
def test_status_sums_up_the_jobs_a_runner_process_ran(app, cli, media):
    """``spoolscribe status`` after real jobs; the /metrics counters are the fast layer's
    (test_upkeep_inprocess.py)."""
    cli("submit", str(media / "jfk3.wav"))
    cli("submit", str(media / "empty.wav"))
    assert cli("runner", "--burst").returncode == 0
    app.store.heartbeat("runner-a", "idle", None, app.store.now())

    summary = cli("status")
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    assert "finished:   1 succeeded, 1 failed, 0 cancelled (all time)" in lines
    assert "audio:      3 s transcribed" in lines
    assert any(line.startswith("speed:      real-time factor ") and "over 1 jobs" in line for line in lines)
    assert any(line.startswith("runners:    runner-a idle (heartbeat ") for line in lines)
    assert any(line.startswith("disk free:  spool ") for line in lines)
    listing = json.loads(cli("status", "--json").stdout)
    assert listing["counts"]["failed"] == 1 and len(listing["jobs"]) == 2  # the old keys, unchanged
    assert listing["metrics"]["finished"] == {"succeeded": 1, "failed": 1, "cancelled": 0}
    assert listing["metrics"]["rtf_buckets"]["+Inf"] == 1


def test_metrics_need_the_token_when_one_is_set(app):
    guarded = create_app(Settings.from_env(env={}, home=app.settings.home, web_token="t0ken-of-16-chars")).test_client()
    refused = guarded.get("/metrics")
    assert refused.status_code == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
    assert refused.json["error"]
    assert value(scrape(guarded, Authorization="Bearer t0ken-of-16-chars"), "spoolscribe_jobs", status="queued") == 0


def test_jobs_ended_before_the_upgrade_are_counted(app):
    url = app.settings.database_url
    command.upgrade(alembic_config(url), "0002")
    with make_engine(url).begin() as connection:
        connection.execute(text(
            "INSERT INTO jobs (id, status, source, original_name, media_path, options, progress, processed_seconds, "
            "attempts, warnings, outputs, created_at, started_at, finished_at, duration) VALUES ("
            "'01J0000000000000000000000A',"
            " 'succeeded', 'cli', 'old.wav', 'media/x.wav', '{}', 1, 60, 1, '[]', '[]', '2026-01-01 10:00:00', "
            "'2026-01-01 10:00:00', '2026-01-01 10:00:30', 60)"))
    metrics = snapshot(JobStore(open_database(app.settings)), app.settings)
    assert metrics.finished["succeeded"] == 1 and metrics.audio_seconds == 60
    assert metrics.rtf_sum == 0.5 and metrics.rtf_count == 1 and metrics.webhooks["pending"] == 0
