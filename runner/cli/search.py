"""``spoolscribe search``: find what was said across every succeeded job's transcript, or rebuild
the index (``--reindex``). Loaded by name by the ``spoolscribe`` group (``runner.cli.main.COMMANDS``).

Exit codes: 0 done (found or not); 1 the database has no search here or cannot be used; 2 bad usage.
"""

from __future__ import annotations

import json

import click

from runner.cli.app import App, fails_cleanly, pass_app
from runner.core.db import write_engine
from runner.core.search import MAX_OFFSET, ORDERS, SearchHit, search_page
from runner.core.text import printable
from runner.core.transcript import clock
from runner.jobs.transcripts import rebuild_index


def _line(hit: SearchHit) -> str:
    """``JOBID  12:34  [speaker] text`` (the time as the web shows it, ``transcript.clock``) with
    the matches in bold on a terminal (escaped text)."""
    marked, at = [], 0
    for start, end in hit.spans:
        marked += [printable(hit.text[at:start]), click.style(printable(hit.text[start:end]), bold=True)]
        at = end
    marked.append(printable(hit.text[at:]))
    speaker = f"[{printable(hit.speaker)}] " if hit.speaker else ""
    return f"{hit.job_id}  {clock(hit.start):>6}  {speaker}{''.join(marked)}"


@click.command("search")
@click.argument("query", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, the shape of GET /api/search.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000),
              help="At most this many segments.")
@click.option("--offset", default=0, type=click.IntRange(0, MAX_OFFSET),
              help="Skip this many segments first.")
@click.option("--order", type=click.Choice(ORDERS), default=ORDERS[0], show_default=True)
@click.option("--reindex", is_flag=True, help="Build the search index again from every succeeded job's outputs.")
@pass_app
@fails_cleanly
def search_command(app: App, query: str | None, as_json: bool, limit: int, offset: int, order: str,
                   reindex: bool) -> None:
    """Segments of succeeded jobs matching QUERY: words in any order, "exact words" in quotes,
    transc* for words that begin so; accents and case do not matter. Grouped under each job's
    file name, newest first (or --order relevance)."""
    if reindex:
        with write_engine(app.store.engine).begin() as connection:
            count = rebuild_index(connection)
        click.echo(f"search index rebuilt: {count} segments")
        if not query:
            return
    if not query:
        raise click.UsageError("give a QUERY (or --reindex)")
    hits, next_offset = search_page(app.store.engine, query, limit, offset, order)
    if as_json:
        click.echo(json.dumps({"query": query, "order": order, "results": [hit.to_dict() for hit in hits],
                               "next_offset": next_offset}, ensure_ascii=False, indent=2))
        return
    shown = None
    for hit in hits:
        if hit.job_id != shown:
            gap = "" if shown is None else "\n"
            click.echo(f"{gap}{printable(hit.file)}  ({hit.created_at:%Y-%m-%d %H:%M} UTC)")
            shown = hit.job_id
        click.echo("  " + _line(hit))
    if not hits:
        click.echo("nothing found", err=True)
