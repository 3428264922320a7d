"""The command line: meaningful exit codes and one-line messages."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess

import pytest
from conftest import SPOOLSCRIBE

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


def test_submit_of_a_missing_file_is_a_usage_error(cli):
    result = cli("submit", "/nonexistent/talk.wav")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and result.stdout == ""


def test_bad_options_are_refused_with_the_reason(cli, media):
    bad_language = cli("submit", "--language", "klingon", str(media / "jfk3.wav"))
    assert bad_language.returncode == 2 and "unknown language 'klingon'" in bad_language.stderr
    bad_format = cli("submit", "--format", "srt,docx", str(media / "jfk3.wav"))
    assert bad_format.returncode == 2 and "unknown output format(s) docx" in bad_format.stderr
    bad_task = cli("submit", "--task", "summarise", str(media / "jfk3.wav"))
    assert bad_task.returncode == 2


def test_status_of_an_unknown_job_fails(cli):
    result = cli("status", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "Error: no job with id 01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_status_shows_a_queued_job_in_text_and_json(cli, media):
    job_id = cli("submit", "--language", "en", "--format", "srt,txt", "--prompt", "Kennedy",
                 str(media / "jfk3.wav")).stdout.strip()
    text = cli("status", job_id)
    assert text.returncode == 0 and "status:    queued" in text.stdout and "file:      jfk3.wav" in text.stdout
    data = json.loads(cli("status", job_id, "--json").stdout)
    assert data["id"] == job_id and data["status"] == "queued" and data["source"] == "cli"
    assert data["options"]["formats"] == ["txt", "srt"] and data["options"]["language"] == "en"
    assert data["options"]["initial_prompt"] == "Kennedy"
    listing = json.loads(cli("status", "--json").stdout)
    assert listing["counts"]["queued"] == 1 and listing["jobs"][0]["id"] == job_id


def test_a_runner_whose_model_cannot_load_says_so(cli, tmp_path):
    result = cli("runner", "--burst", "--model", str(tmp_path / "no-such-model"))
    assert result.returncode == 1
    assert f"could not load model '{tmp_path / 'no-such-model'}': no such directory" in result.stderr
    (tmp_path / "empty-folder").mkdir()
    result = cli("runner", "--burst", "--model", str(tmp_path / "empty-folder"))
    assert result.returncode == 1 and "could not load model" in result.stderr
    assert "no such directory" not in result.stderr


def test_db_upgrade_reports_the_revision(cli):
    first = cli("db", "upgrade")
    assert first.returncode == 0 and "(was empty)" in first.stdout
    second = cli("db", "upgrade")
    assert second.returncode == 0 and "was" not in second.stdout


def test_unusable_values_are_one_line_usage_errors_and_a_closed_pipe_is_quiet(cli, env, media, tmp_path):
    bad = tmp_path / os.fsdecode(b"bad\xffname.wav")
    shutil.copyfile(media / "jfk3.wav", bad)
    for args, message in (
            (("submit", str(bad)), "bad\\xffname.wav: its name is not valid UTF-8; rename it"),
            (("submit", "--audio-track", "", str(media / "jfk3.wav")), "it is empty"),
            (("jobs", "--since", "99999999999d"), "too long an age: at most 36500d"),
            (("purge", "--older-than", "99999999999999d", "--dry-run"), "too long an age"),
            (("status", "--limit", "0"), "0 is not in the range x>=1")):
        result = cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (args, result.stderr)
        assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
            line for line in result.stderr.splitlines() if message in line], (args, result.stderr)
    cli("submit", str(media / "jfk3.wav"))
    # ``true`` has exited long before the command writes: its writes meet a closed pipe
    piped = subprocess.run(f"{shlex.quote(SPOOLSCRIBE)} status | true; {shlex.quote(SPOOLSCRIBE)} jobs | true",
                           shell=True, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""
