"""Full-text search over succeeded jobs' transcripts: the query language (phrases, prefixes, words in
any order, accents and case ignored, CJK as substrings), hostile queries, and an index that follows
successes, renames, edits, deletes, purges, a rebuild and the migration."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from conftest import DATA, both_stores
from sqlalchemy import inspect

from runner.cli.main import main
from runner.core.db import alembic_config, make_engine, write_engine
from runner.core.search import MAX_OFFSET, Term, fts5_expression, parse_query, search
from runner.jobs.retention import sweep
from runner.jobs.transcripts import rebuild_index

MEETING = ["Welcome to the transcription meeting in München.",
           "The budget for next year is final.",
           "Final budget numbers come next week.",
           "東京都で会議があります。"]
HOSTILE = ['"', '"unbalanced', 'budget"', "*", "-", "- budget", "NEAR(budget final)", "budget NEAR final",
           "budget AND", "OR", "NOT budget", "(budget", "budget)", "{text}: budget", "^budget", "text:budget",
           "budget + final", '""', '"" * ""', "'; DROP TABLE jobs; --", "%_", "\\", "\x00budget", "b" * 600,
           " ".join(["budget"] * 40), "東", "会議 AND", "🎙️"]


def found(client, query: str, **args) -> list[tuple[str, int]]:
    answer = client.get("/api/search", query_string={"q": query, **args})
    assert answer.status_code == 200, answer.get_json()
    return [(hit["job_id"], hit["segment"]) for hit in answer.get_json()["results"]]


def test_queries_become_quoted_terms():
    assert parse_query('budget "next year" transc* -') == (Term("budget"), Term("next year"), Term("transc", True))
    assert parse_query('"unbalanced phrase') == (Term("unbalanced phrase"),)
    assert parse_query("NEAR(a b) * \" ''") == (Term("NEAR(a"), Term("b)"))
    assert fts5_expression(parse_query('say "a ""b" cat*')) == '"say" "a" "b" "cat" *'
    assert fts5_expression((Term('x"y'),)) == '"x""y"'
    assert parse_query("   ") == () and parse_query('"" * -') == ()
    assert parse_query("tr* a-b* über*") == (Term("tr"), Term("a-b"), Term("über", True))  # 3 letters at least


@both_stores
def test_phrases_prefixes_any_order_accents_and_cjk(client, transcribed):
    job = transcribed(MEETING).id
    other = transcribed(["A meeting about next year's budget."], name="other.wav").id
    assert found(client, "budget final") == [(job, 2), (job, 1)]  # any order, newest indexed first
    assert found(client, '"budget for next year"') == [(job, 1)]
    assert found(client, '"year budget"') == []
    assert set(found(client, "transc*")) == {(job, 0)}
    assert found(client, "munchen") == [(job, 0)] and found(client, "MÜNCHEN") == [(job, 0)]
    assert found(client, "京都") == [(job, 3)]  # two characters: below the trigram index, scanned
    assert found(client, "東京都") == [(job, 3)] and found(client, "会議が") == [(job, 3)]
    assert found(client, "大阪") == []
    assert set(found(client, "budget")) == {(job, 1), (job, 2), (other, 0)}
    assert found(client, "budget", order="relevance")[0][0] in (job, other)

    hit = client.get("/api/search", query_string={"q": "munchen meet*"}).get_json()["results"][0]
    assert hit["file"] == "talk.wav" and hit["start"] == 0.0 and hit["end"] == 2.0 and hit["speaker"] is None
    assert [hit["text"][a:b] for a, b in hit["spans"]] == ["meeting", "München"]
    cjk = client.get("/api/search", query_string={"q": "京都"}).get_json()["results"][0]
    assert [cjk["text"][a:b] for a, b in cjk["spans"]] == ["京都"]


@both_stores
def test_hostile_queries_are_answered_never_a_500(client, transcribed):
    job = transcribed(MEETING).id
    for query in HOSTILE:
        answer = client.get("/api/search", query_string={"q": query})
        assert answer.status_code in (200, 400), (query, answer.status_code)
        page = client.get("/search", query_string={"q": query})
        assert page.status_code in (200, 400), (query, page.status_code)
    assert found(client, "NEAR(budget final)") == []  # NEAR is only a word here
    assert found(client, "- budget") == [(job, 2), (job, 1)]
    assert client.get("/api/search", query_string={"q": "b" * 600}).status_code == 400
    for bad in ({"limit": "0"}, {"limit": "x"}, {"offset": "-1"}, {"order": "random"}):
        answer = client.get("/api/search", query_string={"q": "budget", **bad})
        assert answer.status_code == 400 and answer.get_json()["error"]


def test_offsets_and_limits_too_large_for_the_database_get_a_clear_400(client, transcribed):
    transcribed(MEETING)
    for bad in ("99999999999999999999999", "9223372036854775808", str(MAX_OFFSET + 1)):
        for path in ("/api/search", "/search"):
            for name in ("offset", "limit"):
                answer = client.get(path, query_string={"q": "budget", name: bad})
                assert answer.status_code == 400, (path, name, bad)
        error = client.get("/api/search", query_string={"q": "budget", "offset": bad}).get_json()["error"]
        assert error == f"limit must be from 1 to 200 and offset from 0 to {MAX_OFFSET}"
    assert found(client, "budget", offset=str(MAX_OFFSET)) == []


def search_cli(app, *args: str):
    """``spoolscribe search ARGS`` in process: the click result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(main, ["--home", str(app.settings.home), "search", *args], prog_name="spoolscribe")


def test_the_command_line_answers_the_apis_shape_and_shows_times_as_the_page_does(app, client, transcribed):
    job = transcribed(["The budget is final.", "A budget for next year."])
    with write_engine(app.store.engine).begin() as connection:  # a hit at 21.9 s: 0:22, as the page rounds it
        connection.exec_driver_sql("UPDATE transcript_segments SET start = 21.9 WHERE job_id = ? AND \"index\" = 1",
                                   (job.id,))
    for args in ({"limit": "1"}, {"limit": "1", "offset": "1"}):
        result = search_cli(app, "budget", "--json", "--limit", args["limit"], "--offset", args.get("offset", "0"))
        assert result.exit_code == 0, result.output
        api = client.get("/api/search", query_string={"q": "budget", **args}).get_json()
        assert json.loads(result.stdout) == api and "next_offset" in api
    assert json.loads(search_cli(app, "budget", "--json", "--limit", "1").stdout)["next_offset"] == 1
    listed = search_cli(app, "budget")
    assert f"{job.id}    0:22  A budget for next year." in listed.stdout
    assert '<span class="ts">0:22</span>' in client.get("/search?q=budget").get_data(as_text=True)
    for huge in ("99999999999999999999999", "9223372036854775808"):
        refused = search_cli(app, "budget", "--offset", huge)
        assert refused.exit_code == 2 and "Invalid value for '--offset'" in refused.stderr, refused.output
        assert refused.exception is None or isinstance(refused.exception, SystemExit)


@both_stores
def test_paging_and_the_page_groups_hits_by_job_with_marks(client, transcribed):
    first = transcribed(["budget one", "budget two"], name="<b>first</b>.wav").id
    second = transcribed(["budget three"], name="second.wav").id
    page1 = client.get("/api/search", query_string={"q": "budget", "limit": 2}).get_json()
    assert [(h["job_id"], h["segment"]) for h in page1["results"]] == [(second, 0), (first, 1)]
    page2 = client.get("/api/search", query_string={"q": "budget", "limit": 2, "offset": page1["next_offset"]})
    assert [(h["job_id"], h["segment"]) for h in page2.get_json()["results"]] == [(first, 0)]
    assert page2.get_json()["next_offset"] is None

    html = client.get("/search", query_string={"q": "budget"}).get_data(as_text=True)
    assert "&lt;b&gt;first&lt;/b&gt;.wav" in html and "<b>first" not in html
    assert html.count('<section class="hits">') == 2 and html.count("<mark>budget</mark>") == 3
    assert f'href="/jobs/{first}?t=2.000#segment-1"' in html
    assert 'name="q"' in client.get("/").get_data(as_text=True)  # the box on every page
    assert "Nothing found" in client.get("/search?q=nowhere").get_data(as_text=True)


@both_stores
def test_a_job_a_runner_finishes_is_found_with_its_segments_times(app, client, submit, perform):
    job = submit(DATA / "jfk.flac")
    assert perform(job.id) == "succeeded"
    hits = client.get("/api/search", query_string={"q": "charlie3"}).get_json()["results"]
    assert [(h["job_id"], h["segment"], h["start"], h["text"]) for h in hits] == \
        [(job.id, 3, 6.0, "alpha3 bravo3 charlie3 delta3")]


@both_stores
def test_results_follow_renames_edits_deletes_and_purges(app, client, transcribed):
    talk = transcribed(["Hi there.", "Hello Shiela."], speakers=["SPEAKER_00", "SPEAKER_01"])
    old = transcribed(["an old budget"], name="old.wav")
    assert client.post(f"/api/jobs/{talk.id}/speakers", json={"names": {"SPEAKER_01": "Sheila"}}).status_code == 200
    hit = client.get("/api/search?q=hello").get_json()["results"][0]
    assert hit["speaker"] == "Sheila"

    edited = client.patch(f"/api/jobs/{talk.id}/segments/1", json={"text": "Hello Sheila.", "base_version": 0})
    assert edited.status_code == 200
    assert found(client, "shiela") == [] and found(client, "sheila") == [(talk.id, 1)]

    assert client.delete(f"/api/jobs/{talk.id}").status_code == 204
    assert found(client, "sheila") == [] and found(client, "hello") == []

    assert found(client, "budget") == [(old.id, 0)]
    sweep(app.store, app.spool, app.settings, "test", now=old.finished_at + timedelta(days=2),
          older_than=timedelta(days=1))
    assert app.store.get(old.id) is None and found(client, "budget") == []
    with app.store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM transcript_segments").scalar() == 0
        if connection.dialect.name == "sqlite":  # PostgreSQL's index is on transcript_segments itself
            assert connection.exec_driver_sql("SELECT count(*) FROM search_words WHERE search_words MATCH 'budget'"
                                              ).scalar() == 0


@both_stores
def test_rebuilding_keeps_edits_and_falls_back_to_the_checkpoint(app, client, transcribed):
    job = transcribed(["first words", "second words"])
    client.patch(f"/api/jobs/{job.id}/segments/0", json={"text": "first edited words", "base_version": 0})
    no_json = transcribed(["only text output"], name="plain.wav", formats=("txt",))
    with write_engine(app.store.engine).begin() as connection:
        connection.exec_driver_sql("DELETE FROM transcript_segments")
    assert found(client, "edited") == []
    with write_engine(app.store.engine).begin() as connection:
        assert rebuild_index(connection) == 2  # the txt-only job has no checkpoint here: nothing to index
    assert found(client, "edited") == [(job.id, 0)]
    versions = client.get(f"/api/jobs/{job.id}/segments/0/versions").get_json()["versions"]
    assert [v["version"] for v in versions] == [0, 1]
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert re.search(r'id="segment-0" data-index="0" data-version="1"', page)
    assert found(client, "output") == [] and no_json.status == "succeeded"


@both_stores
def test_the_migration_indexes_the_jobs_it_finds(app, client, transcribed):
    job = transcribed(["Before the index existed, this was said."])
    config = alembic_config(app.settings.database_url)
    below = ScriptDirectory.from_config(config).get_revision("0009").down_revision
    command.downgrade(config, str(below))
    engine = make_engine(app.settings.database_url)
    with engine.connect() as connection:
        assert not inspect(connection).has_table("transcript_segments")
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name LIKE 'search_%'"
                                              ).scalar() == 0
    command.upgrade(config, "head")
    assert found(client, "existed said") == [(job.id, 0)]


@pytest.mark.parametrize("order", ["newest", "relevance"])
@both_stores
def test_search_needs_something_to_look_for(app, order):
    assert search(app.store.engine, "  * - \"\" ", order=order) == []
    with pytest.raises(ValueError):
        search(app.store.engine, "x", order="random")


@pytest.mark.slow
@both_stores
def test_the_command_line_searches_and_rebuilds_the_index(app, cli, transcribed):
    job = transcribed(["Where did someone say transcription?", "Nowhere else."], name="notes\x1b[31m.wav")
    as_json = cli("search", "transcr*", "--json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert [(hit["job_id"], hit["segment"], hit["text"]) for hit in document["results"]] == \
        [(job.id, 0, "Where did someone say transcription?")]
    assert document["next_offset"] is None
    huge = cli("search", "transcr*", "--offset", "99999999999999999999999")
    assert huge.returncode == 2 and "Invalid value for '--offset'" in huge.stderr and "Traceback" not in huge.stderr
    listed = cli("search", '"someone say"')
    assert listed.returncode == 0 and "\x1b[31m" not in listed.stdout and "notes\\x1b[31m.wav" in listed.stdout
    assert f"{job.id}    0:00  Where did someone say transcription?" in listed.stdout
    with write_engine(app.store.engine).begin() as connection:
        connection.exec_driver_sql("DELETE FROM transcript_segments")
    missing = cli("search", "nowhere")
    assert missing.returncode == 0 and missing.stdout == "" and "nothing found" in missing.stderr
    rebuilt = cli("search", "--reindex", "nowhere")
    assert rebuilt.returncode == 0 and "search index rebuilt: 2 segments" in rebuilt.stdout
    assert f"{job.id}    0:02  Nowhere else." in rebuilt.stdout
    assert cli("search").returncode == 2
