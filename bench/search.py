"""Search at scale: index build time, query latency (one word, a phrase, a prefix) and database growth.

Generates --jobs succeeded jobs of --segments segments each (default 10,000 x 100: a million
segments of 8 to 20 words drawn from a Zipf-distributed vocabulary of 20,000 made-up words, 1 % of
them Japanese, indexed by the trigram table too) straight into a migrated SQLite database: the job
rows first, then the segment rows, which the migration's triggers index as they are inserted. Then
it times the FTS5 ``rebuild`` of the word index alone, and --queries queries of each kind (a word of
rank 20 to 5,000, two consecutive words of a generated segment in quotes, the first 3 to 6 letters
of a word of rank below 5,000 and ``*``, a Japanese substring of 2 or 4 characters) through
``runner.core.search.search`` (the API's page of 50, plus one to tell there is more), newest first
and by relevance.

    .venv/bin/python bench/search.py                           # 1,000,000 segments; 3 to 5 minutes on 2 cores
    .venv/bin/python bench/search.py --jobs 500 --segments 40  # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from harness import App, Settings, print_table
from sqlalchemy import Engine, insert

from runner.core.db import write_engine
from runner.core.schema import Job
from runner.core.search import is_spaceless, search

SYLLABLES = ("ka", "ri", "to", "mu", "sen", "la", "dor", "vi", "pe", "qua", "nel", "os", "tri", "ba", "zu", "ge",
             "mon", "fa", "lu", "cha", "ré", "ü", "ber", "an")
JAPANESE = ("東京都で会議があります", "予算は最終です", "来週また話しましょう", "新しい計画について")
PAGE = 51


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """``size`` distinct made-up words of 2 to 4 syllables."""
    words: dict[str, None] = {}
    while len(words) < size:
        words.setdefault("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return list(words)


def checkpoint(engine: Engine) -> None:
    """Move the write-ahead log into the database file (outside a transaction), so its size is the data's."""
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def measure(app: App, kind: str, order: str, queries: list[str]) -> tuple[object, ...]:
    """One table row: wall-clock p50/p99/max and CPU-time p50/p99 (ms) of ``queries``, and the mean
    number of hits. CPU time is what a query costs on a core of its own, whatever else runs."""
    wall, cpu, found = [], [], []
    for query in queries:
        begin, begin_cpu = time.perf_counter(), time.process_time()
        found.append(len(search(app.store.engine, query, PAGE, 0, order)))
        wall.append((time.perf_counter() - begin) * 1000)
        cpu.append((time.process_time() - begin_cpu) * 1000)
    return (kind, order, len(queries), statistics.median(wall), percentile(wall, 99), max(wall),
            statistics.median(cpu), percentile(cpu, 99), statistics.mean(found))


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(share) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=100, help="segments per job")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    words = vocabulary(20_000, rng)
    cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(words) + 1)))
    with tempfile.TemporaryDirectory() as scratch:
        app = App(Settings.from_env({}, home=Path(scratch)))
        engine = write_engine(app.store.engine)
        database = Path(scratch) / "spoolscribe.db"
        started = datetime(2026, 1, 1)
        jobs = [{"id": f"{number:026d}", "status": "succeeded", "source": "cli",
                 "original_name": f"meeting {number}.wav", "media_path": f"media/{number}.wav", "options": {},
                 "progress": 1.0, "processed_seconds": 2.0 * args.segments, "attempts": 1, "warnings": [],
                 "outputs": [], "created_at": started + timedelta(minutes=number),
                 "finished_at": started + timedelta(minutes=number, seconds=30)} for number in range(args.jobs)]
        with engine.begin() as connection:
            connection.execute(insert(Job), jobs)
        checkpoint(engine)
        base = database.stat().st_size

        said: list[list[str]] = []
        texts_seconds = 0.0
        index_seconds = 0.0
        for job in jobs:
            begin = time.perf_counter()
            rows = []
            for index in range(args.segments):
                if rng.random() < 0.01:
                    text = rng.choice(JAPANESE) + "。"
                else:
                    spoken = rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 20))
                    if len(said) < 4 * args.queries:
                        said.append(spoken)
                    text = " ".join(spoken).capitalize() + "."
                rows.append((job["id"], index, 2.0 * index, 2.0 * index + 2.0, None, text, is_spaceless(text), 0))
            texts_seconds += time.perf_counter() - begin
            begin = time.perf_counter()
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    'INSERT INTO transcript_segments (job_id, "index", start, "end", speaker, text, spaceless, '
                    "version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            index_seconds += time.perf_counter() - begin
        checkpoint(engine)
        with engine.begin() as connection:
            segments = connection.exec_driver_sql("SELECT count(*) FROM transcript_segments").scalar()
            try:
                sizes = dict(connection.exec_driver_sql(
                    "SELECT CASE WHEN name LIKE 'search_words%' THEN 'words index' "
                    "WHEN name LIKE 'search_trigrams%' THEN 'trigram index' "
                    "WHEN name LIKE '%transcript_segments%' THEN 'segments table' ELSE 'other' END, "
                    "sum(pgsize) FROM dbstat GROUP BY 1").all())
            except Exception:  # dbstat not compiled in
                sizes = {}
        full = database.stat().st_size
        begin = time.perf_counter()
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO search_words(search_words) VALUES ('rebuild')")
        rebuild_seconds = time.perf_counter() - begin

        kinds = {
            "one word": lambda: rng.choice(words[20:5000]),
            "phrase": lambda: (lambda spoken, at: f'"{spoken[at]} {spoken[at + 1]}"')(
                s := rng.choice(said), rng.randrange(len(s) - 1)),
            "prefix": lambda: rng.choice(words[:5000])[:rng.randint(3, 6)] + "*",
        }
        rows_out = []
        for order in ("newest", "relevance"):
            for kind, make in kinds.items():
                rows_out.append(measure(app, kind, order, [make() for _ in range(args.queries)]))
        rows_out.append(measure(app, "Japanese substring (2 or 4 chars)", "newest",
                                [rng.choice(JAPANESE)[rng.randrange(3):][:rng.choice((2, 4))]
                                 for _ in range(args.queries)]))

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"search over {args.jobs:,} jobs, {segments:,} segments (cores: {os.cpu_count()}; load average {load})")
    print_table(["step", "seconds"], [("generate the texts", texts_seconds),
                                      ("insert the segments, indexed by the triggers", index_seconds),
                                      ("FTS5 rebuild of the word index alone", rebuild_seconds)])
    print()
    mib = 1 << 20
    growth = [("database before the segments", base / mib), ("database with segments and indexes", full / mib),
              ("growth per 1,000 segments", (full - base) / mib / max(1, segments) * 1000)]
    growth += [(f"  of which {name}", size / mib) for name, size in sorted(sizes.items())]
    print_table(["size", "MiB"], growth)
    print()
    print_table(["query", "order", "queries", "p50 ms", "p99 ms", "max ms", "CPU p50 ms", "CPU p99 ms",
                 "mean hits (of 51)"], rows_out)


if __name__ == "__main__":
    main()
