"""The command line in process (click's runner, real store): values it cannot use are usage errors
with one line and exit 2, and a closed output pipe ends it quietly."""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from click.testing import CliRunner
from conftest import DATA

from runner.cli.main import main


def invoke(app, *args: str):
    """``spoolscribe --home HOME ARGS...`` in process; click's result."""
    return CliRunner().invoke(main, ["--home", str(app.settings.home), *args], prog_name="spoolscribe")


def one_line_usage_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error: ")] == [f"Error: {text}"]


@pytest.mark.parametrize("args", [("jobs", "--since", "99999999999d"), ("jobs", "--since", "999999d"),
                                  ("jobs", "--since", "9" * 400),
                                  ("purge", "--older-than", "99999999999999d", "--dry-run")])
def test_an_age_too_large_for_a_date_is_a_usage_error(app, args):
    option, value = args[1], args[2]
    one_line_usage_error(invoke(app, *args),
                         f"Invalid value for '{option}': {value!r} is too long an age: at most 36500d (100 years)")


def test_the_longest_age_is_accepted(app):
    assert invoke(app, "jobs", "--since", "36500d").exit_code == 0
    assert invoke(app, "purge", "--older-than", "5200w", "--dry-run").exit_code == 0


def test_status_and_jobs_refuse_a_limit_that_lists_nothing(app):
    one_line_usage_error(invoke(app, "status", "--limit", "0"),
                         "Invalid value for '--limit': 0 is not in the range x>=1.")
    one_line_usage_error(invoke(app, "jobs", "--limit", "-1"),
                         "Invalid value for '--limit': -1 is not in the range x>=0.")


def test_submit_refuses_a_name_that_is_not_utf8_before_queueing_any(app, tmp_path):
    good = shutil.copyfile(DATA / "jfk.flac", tmp_path / "good.flac")
    bad = shutil.copyfile(DATA / "jfk.flac", tmp_path / os.fsdecode(b"bad\xffname.flac"))
    result = invoke(app, "submit", str(good), str(bad))
    one_line_usage_error(result, "bad\\xffname.flac: its name is not valid UTF-8; rename it")
    assert app.store.list() == []


def test_a_closed_output_pipe_ends_the_command_quietly(app, submit, monkeypatch, capfd):
    for _ in range(3):
        submit(DATA / "jfk.flac")
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 (click's handler replaces sys.stdout)
    monkeypatch.setattr(sys, "stdout", closed)
    with pytest.raises(SystemExit) as ended:
        main.main(["--home", str(app.settings.home), "status"], prog_name="spoolscribe")
    monkeypatch.undo()
    assert ended.value.code == 1
    assert capfd.readouterr().err == ""


def test_cancelling_a_running_job_says_its_runner_stops_and_clears_its_stage(app, submit):
    running, queued = submit(DATA / "jfk.flac").id, submit(DATA / "jfk.flac").id
    assert app.spool.claim(running) and app.store.claim(running, "r1", 60)
    result = invoke(app, "cancel", running, queued)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{running} cancelled (jfk.flac); its runner stops at the next segment",
                                          f"{queued} cancelled (jfk.flac)"]
    assert "status:    cancelled\n" in invoke(app, "status", running).stdout  # not "cancelled (decoding)"
