"""Full-text search over succeeded jobs' transcripts (table ``transcript_segments``).

A person's query is never handed to the database's query language: ``parse_query`` turns it into
terms (``"exact words"`` phrases, ``transc*`` prefixes, plain words, all required, in any order),
and each implementation renders them quoted in its own syntax, so FTS syntax characters (``"``,
``*``, ``-``, ``NEAR``, ``AND``, brackets, an unbalanced quote) are only ever text.

The implementation is picked by the engine's dialect (``search``). SQLite:
two FTS5 tables with external content on ``transcript_segments`` (https://www.sqlite.org/fts5.html,
"External Content Tables"), kept in step by the triggers in ``SQLITE_DDL`` inside the transaction
that writes a segment:

- ``search_words``: tokenizer ``unicode61 remove_diacritics 2`` (words, case and diacritics
  folded: ``munchen`` finds ``München``), ranked by bm25, with an index of 3-character prefixes (a
  3-letter prefix otherwise merges the doclists of thousands of words: p99 300 ms at a million
  segments, against 5 ms with it, for about 15 % more index);
- ``search_trigrams``: tokenizer ``trigram``, only for rows whose text holds a script written
  without spaces (``is_spaceless``: Chinese, Japanese, Thai, ...), where unicode61 would make one
  token of a whole sentence; a query term in such a script is looked for as a substring there
  (terms shorter than 3 characters, below the trigram index's reach, by scanning those rows).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, TextualSelect, text

from runner.core.errors import SpoolscribeError

ORDERS = ("newest", "relevance")
"""``newest``: segments of the most recently indexed (succeeded) jobs first; ``relevance``: bm25."""
MAX_QUERY_CHARS = 500
MAX_OFFSET = 1_000_000_000  # hits a search may skip (the database takes 64-bit integers; nobody pages further)
MAX_TERMS = 16
MIN_PREFIX_CHARS = 3
"""A prefix (``transc*``) needs this many letters or digits before the ``*`` (the length of
SQLite's prefix index); a shorter one, which would match a large part of the vocabulary, is
looked up as a whole word."""

_SPACELESS = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0003134f]")
"""Thai, Lao, Myanmar, Khmer, Hiragana, Katakana, CJK ideographs (with extensions), half-width kana."""
_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_OPEN, _CLOSE = "\x02", "\x03"
"""Marks FTS5 ``highlight()`` puts around a match (control characters never stored in a segment's text)."""

SQLITE_DDL = (
    "CREATE VIRTUAL TABLE search_words USING fts5(text, content='transcript_segments', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2', prefix='3')",
    "CREATE VIRTUAL TABLE search_trigrams USING fts5(text, content='transcript_segments', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TRIGGER transcript_segments_ai AFTER INSERT ON transcript_segments BEGIN "
    "INSERT INTO search_words(rowid, text) VALUES (new.id, new.text); "
    "INSERT INTO search_trigrams(rowid, text) SELECT new.id, new.text WHERE new.spaceless; END",
    "CREATE TRIGGER transcript_segments_ad AFTER DELETE ON transcript_segments BEGIN "
    "INSERT INTO search_words(search_words, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO search_trigrams(search_trigrams, rowid, text) SELECT 'delete', old.id, old.text "
    "WHERE old.spaceless; END",
    "CREATE TRIGGER transcript_segments_au AFTER UPDATE OF text, spaceless ON transcript_segments BEGIN "
    "INSERT INTO search_words(search_words, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO search_trigrams(search_trigrams, rowid, text) SELECT 'delete', old.id, old.text "
    "WHERE old.spaceless; "
    "INSERT INTO search_words(rowid, text) VALUES (new.id, new.text); "
    "INSERT INTO search_trigrams(rowid, text) SELECT new.id, new.text WHERE new.spaceless; END",
)
"""The SQLite full-text tables and the triggers that keep them in step (created by migration 0009)."""
SQLITE_TABLES = ("search_words", "search_trigrams")
"""The FTS5 tables; they and their shadow tables (``search_words_data``, ...) are not in the models."""
POSTGRES_INDEX = "ix_transcript_segments_words"
POSTGRES_DDL = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE OR REPLACE FUNCTION spoolscribe_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
    "AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$",
    f"CREATE INDEX {POSTGRES_INDEX} ON transcript_segments USING gin "
    "(to_tsvector('simple', spoolscribe_unaccent(text)))",
)
"""PostgreSQL: ``unaccent`` behind an IMMUTABLE wrapper (so an index may use it; the usual recipe,
as ``unaccent`` itself is only STABLE) and a GIN index on the ``simple`` configuration's tsvector
of the unaccented text (created by migration 0009; not in the models)."""
POSTGRES_DROP = (f"DROP INDEX IF EXISTS {POSTGRES_INDEX}", "DROP FUNCTION IF EXISTS spoolscribe_unaccent(text)")


class SearchUnavailable(SpoolscribeError):
    """This database has no full-text search implementation in spoolscribe (the message names it)."""


def alembic_include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's ``include_name`` hook: False for the full-text tables and their FTS5 shadow tables
    (``search_words_data``, ...) and PostgreSQL's expression index, which the migration makes by SQL
    and the models do not hold, so autogenerate leaves them alone."""
    if name is None:
        return True
    if type_ == "index":
        return name != POSTGRES_INDEX
    return not (type_ == "table" and any(name == table or name.startswith(f"{table}_") for table in SQLITE_TABLES))


def is_spaceless(value: str) -> bool:
    """True when ``value`` holds a character of a script written without spaces between words."""
    return _SPACELESS.search(value) is not None


@dataclass(frozen=True)
class Term:
    """One required part of a query: ``words`` as typed (a phrase's words in order), ``prefix`` when
    the last word ends in ``*`` (stripped here)."""

    words: str
    prefix: bool = False

    @property
    def spaceless(self) -> bool:
        """True when the term is in a script written without spaces (looked for as a substring)."""
        return is_spaceless(self.words)


def parse_query(query: str) -> tuple[Term, ...]:
    """The terms of a person's query: ``"..."`` a phrase (an unbalanced quote runs to the end),
    ``word*`` a prefix (of at least ``MIN_PREFIX_CHARS``), anything else a word; every term is
    required. Parts without a letter or
    digit (``-``, ``*``, a lone quote) are dropped; control characters count as spaces. At most
    ``MAX_TERMS`` terms of the first ``MAX_QUERY_CHARS`` characters are kept.

    Returns an empty tuple when nothing is left to look for.
    """
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in query[:MAX_QUERY_CHARS])
    terms = []
    for match in _TOKEN.finditer(cleaned):
        phrase, word = match.group(1), match.group(2)
        raw = " ".join((phrase if phrase is not None else word).split())
        raw, starred = raw.rstrip("*").strip(), raw.endswith("*")
        prefix = starred and sum(c.isalnum() for c in (raw.split() or [""])[-1]) >= MIN_PREFIX_CHARS
        if any(c.isalnum() for c in raw):
            terms.append(Term(raw, prefix))
    return tuple(terms[:MAX_TERMS])


def _quoted(value: str) -> str:
    """An FTS5 string: in double quotes, each double quote doubled (FTS5 docs, "FTS5 Strings")."""
    return '"' + value.replace('"', '""') + '"'


def fts5_expression(terms: tuple[Term, ...]) -> str:
    """The FTS5 query of ``terms`` for the unicode61 index: each term a quoted phrase (``"a b"``,
    ``"transc" *``), joined by spaces (implicit AND)."""
    return " ".join(_quoted(term.words) + (" *" if term.prefix else "") for term in terms)


@dataclass(frozen=True)
class SearchHit:
    """A segment that matched: its job (id, file name, when submitted and finished: naive UTC), its
    position and times (seconds), speaker (or None), text, and ``spans``: ``(start, end)`` character
    offsets of the matches in ``text``."""

    job_id: str
    file: str
    created_at: datetime
    finished_at: datetime | None
    index: int
    start: float
    end: float
    speaker: str | None
    text: str
    spans: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, times as ISO 8601 with ``Z``, spans as lists."""
        return {"job_id": self.job_id, "file": self.file, "created_at": self.created_at.isoformat() + "Z",
                "finished_at": None if self.finished_at is None else self.finished_at.isoformat() + "Z",
                "segment": self.index, "start": self.start, "end": self.end, "speaker": self.speaker,
                "text": self.text, "spans": [list(span) for span in self.spans]}


def search(engine: Engine, query: str, limit: int = 50, offset: int = 0, order: str = "newest") -> list[SearchHit]:
    """The segments of succeeded jobs matching ``query`` (see ``parse_query``), ``order`` first
    (``ORDERS``), ``limit`` of them from ``offset``; empty when the query has nothing to look for.

    Raises:
        ValueError: ``order`` is not one of ``ORDERS``, ``limit`` is negative, or ``offset`` is
            outside 0..``MAX_OFFSET``.
        SearchUnavailable: the database's dialect has no implementation here.
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    if limit < 0 or not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"limit must not be negative and offset must be from 0 to {MAX_OFFSET}")
    implementation = _IMPLEMENTATIONS.get(engine.dialect.name)
    if implementation is None:
        raise SearchUnavailable(f"full-text search is not available on {engine.dialect.name} databases")
    terms = parse_query(query)
    if not terms or not limit:
        return []
    with engine.connect() as connection:
        return implementation(connection, terms, limit, offset, order)



def search_page(engine: Engine, query: str, limit: int = 50, offset: int = 0,
                order: str = "newest") -> tuple[list[SearchHit], int | None]:
    """One page of ``search``: at most ``limit`` hits from ``offset``, and the ``offset`` of the next
    page (None on the last one), the ``next_offset`` of GET /api/search.

    Raises:
        the errors of ``search``.
    """
    hits = search(engine, query, limit + 1, offset, order)
    more = len(hits) > limit
    return hits[:limit], offset + limit if more else None


_HIT_COLUMNS = ('s.id, s.job_id, j.original_name, j.created_at, j.finished_at, s."index", s.start, s."end", '
                's.speaker, s.text')
"""What a hit is made of (``_hit``): the segment's columns and its job's."""
_SELECT_HITS = (f"SELECT {_HIT_COLUMNS}{{marked}} FROM {{source}} JOIN transcript_segments s ON s.id = h.rowid "
                "JOIN jobs j ON j.id = s.job_id ORDER BY {order}")


def _hits_query(sql: str) -> TextualSelect:
    """The textual query ``sql`` with its job times read as datetimes (SQLite stores them as text)."""
    return text(sql).columns(created_at=DateTime, finished_at=DateTime)


def _sqlite_search(connection: Connection, terms: tuple[Term, ...], limit: int, offset: int,
                   order: str) -> list[SearchHit]:
    """SQLite: the unicode61 index, or, when a term is in a spaceless script, the trigram index."""
    if any(term.spaceless for term in terms):
        return _sqlite_substrings(connection, terms, limit, offset, order)
    ranking = "rank" if order == "relevance" else "rowid DESC"
    source = (f"(SELECT rowid, rank, highlight(search_words, 0, '{_OPEN}', '{_CLOSE}') AS marked FROM search_words "
              f"WHERE search_words MATCH :match ORDER BY {ranking} LIMIT :limit OFFSET :offset) h")
    sql = _SELECT_HITS.format(marked=", h.marked", source=source,
                              order="h.rank" if order == "relevance" else "h.rowid DESC")
    rows = connection.execute(_hits_query(sql), {"match": fts5_expression(terms), "limit": limit, "offset": offset})
    return [_hit(row, *_unmark(row.marked)) for row in rows]


def _sqlite_substrings(connection: Connection, terms: tuple[Term, ...], limit: int, offset: int,
                       order: str) -> list[SearchHit]:
    """SQLite, a query with a term in a spaceless script: every term as a substring (case folded)
    of the rows in the trigram index; terms of 3 or more characters through its MATCH, shorter ones
    by LIKE on those rows. Relevance is bm25 of the long terms, else newest first."""
    long = [term for term in terms if len(term.words) >= 3]
    likes = {f"like{number}": _like(term) for number, term in enumerate(terms) if len(term.words) < 3}
    like_sql = " ".join(f"AND s.text LIKE :{name} ESCAPE '\\'" for name in likes)
    params: dict[str, Any] = {"limit": limit, "offset": offset, **likes}
    if long:
        params["match"] = " ".join(_quoted(term.words) for term in long)
        ranking = "t.rank" if order == "relevance" else "t.rowid DESC"
        source = (f"(SELECT t.rowid AS rowid, t.rank AS rank FROM search_trigrams t JOIN transcript_segments s "
                  f"ON s.id = t.rowid WHERE search_trigrams MATCH :match {like_sql} ORDER BY {ranking} "
                  f"LIMIT :limit OFFSET :offset) h")
        order_sql = "h.rank" if order == "relevance" else "h.rowid DESC"
    else:
        source = (f"(SELECT s.id AS rowid FROM transcript_segments s WHERE s.spaceless {like_sql} "
                  f"ORDER BY s.id DESC LIMIT :limit OFFSET :offset) h")
        order_sql = "h.rowid DESC"
    rows = connection.execute(_hits_query(_SELECT_HITS.format(marked="", source=source, order=order_sql)), params)
    return [_hit(row, row.text, _substring_spans(row.text, terms)) for row in rows]


def _like(term: Term) -> str:
    """A LIKE pattern finding ``term`` anywhere, its ``\\``, ``%`` and ``_`` escaped by ``\\``."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", term.words) + "%"


def _postgres_search(connection: Connection, terms: tuple[Term, ...], limit: int, offset: int,
                     order: str) -> list[SearchHit]:
    """PostgreSQL: every term in a script with spaces as a tsquery of the unaccented text under the
    ``simple`` configuration (``phraseto_tsquery`` for words and phrases, ``word:*`` for a prefix,
    joined by ``&&``; the text is only ever a bound parameter), ranked by ``ts_rank``; a term in a
    spaceless script by ILIKE on the rows holding such a script."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    queries, conditions = [], []
    for number, term in enumerate(terms):
        if term.spaceless:
            params[f"like{number}"] = _like(term)
            conditions.append(f"s.spaceless AND s.text ILIKE :like{number} ESCAPE '\\'")
            continue
        *rest, last = term.words.split()
        phrase = f"phraseto_tsquery('simple', spoolscribe_unaccent(:words{number}))"
        if not term.prefix:
            params[f"words{number}"] = term.words
            queries.append(phrase)
            continue
        params[f"last{number}"] = last
        prefix = f"to_tsquery('simple', quote_literal(lower(spoolscribe_unaccent(:last{number}))) || ':*')"
        params[f"words{number}"] = " ".join(rest)
        queries.append(f"({phrase} <-> {prefix})" if rest else prefix)
    vector = "to_tsvector('simple', spoolscribe_unaccent(s.text))"
    query = " && ".join(queries)
    if queries:
        conditions.append(f"{vector} @@ ({query})")
    ranking = f"ts_rank({vector}, ({query})) DESC, s.id DESC" if queries and order == "relevance" else "s.id DESC"
    marked = (f"ts_headline('simple', spoolscribe_unaccent(s.text), ({query}), "
              "'HighlightAll=true, StartSel=' || chr(2) || ', StopSel=' || chr(3))") if queries else "''"
    sql = (f"SELECT {_HIT_COLUMNS}, {marked} AS marked FROM transcript_segments s JOIN jobs j ON j.id = s.job_id "
           f"WHERE {' AND '.join(conditions)} ORDER BY {ranking} LIMIT :limit OFFSET :offset")
    hits = []
    for row in connection.execute(_hits_query(sql), params):
        plain, spans = _unmark(row.marked)
        spans = spans if len(plain) == len(row.text) else ()  # unaccent kept the length: the marks fit
        substrings = _substring_spans(row.text, tuple(term for term in terms if term.spaceless))
        hits.append(_hit(row, row.text, tuple(sorted(spans + substrings))))
    return hits


def _substring_spans(value: str, terms: tuple[Term, ...]) -> tuple[tuple[int, int], ...]:
    """Where each term occurs in ``value`` (case folded by ``str.lower``, which keeps offsets for
    these scripts), in order, overlaps merged."""
    lowered, spans = value.lower(), []
    for term in terms:
        needle = term.words.lower()
        found = lowered.find(needle)
        while needle and found >= 0:
            spans.append((found, found + len(needle)))
            found = lowered.find(needle, found + len(needle))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _unmark(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The text of a ``highlight()`` result and the spans its marks enclosed."""
    plain: list[str] = []
    spans: list[tuple[int, int]] = []
    opened = length = 0
    for part in re.split(f"([{_OPEN}{_CLOSE}])", marked):
        if part == _OPEN:
            opened = length
        elif part == _CLOSE:
            spans.append((opened, length))
        else:
            plain.append(part)
            length += len(part)
    return "".join(plain), tuple(spans)


def _hit(row: Any, value: str, spans: tuple[tuple[int, int], ...]) -> SearchHit:
    return SearchHit(row.job_id, row.original_name, row.created_at, row.finished_at, row.index, row.start,
                     row.end, row.speaker, value, spans)


_IMPLEMENTATIONS = {"sqlite": _sqlite_search, "postgresql": _postgres_search}
"""Dialect name to its search: ``(connection, terms, limit, offset, order) -> hits``."""
