"""Search as the web asks for it: the query string's ``q``, ``limit``, ``offset`` and ``order``
checked, then ``runner.core.search.search``; the page groups the hits by job."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape
from werkzeug import exceptions
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from runner.core.search import MAX_OFFSET, MAX_QUERY_CHARS, ORDERS, SearchHit, SearchUnavailable, search_page
from webui.services import Services

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


@dataclass(frozen=True)
class SearchRequest:
    """A checked search: the query as typed, how many hits from where, in which order."""

    query: str
    limit: int
    offset: int
    order: str


def search_request(args: MultiDict) -> SearchRequest:
    """The search the query string asks for (``q``; ``limit`` 1..200, default 50; ``offset`` 0..``MAX_OFFSET``;
    ``order`` newest or relevance, default newest).

    Raises:
        werkzeug.exceptions.BadRequest: a limit, offset or order out of range, or a query longer
            than ``MAX_QUERY_CHARS`` (400).
    """
    query = args.get("q", "")
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(f"the query is longer than {MAX_QUERY_CHARS} characters")
    try:
        limit, offset = int(args.get("limit", DEFAULT_LIMIT)), int(args.get("offset", 0))
    except ValueError:
        raise BadRequest(f"limit (1 to {MAX_LIMIT}) and offset (0 to {MAX_OFFSET}) must be whole numbers") from None
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"limit must be from 1 to {MAX_LIMIT} and offset from 0 to {MAX_OFFSET}")
    order = args.get("order", ORDERS[0])
    if order not in ORDERS:
        raise BadRequest(f"order must be one of {', '.join(ORDERS)}")
    return SearchRequest(query, limit, offset, order)


def find(services: Services, wanted: SearchRequest) -> tuple[list[SearchHit], int | None]:
    """The hits of ``wanted`` and the offset of the next page (None on the last).

    Raises:
        werkzeug.exceptions.NotImplemented: this database has no full-text search here (501).
    """
    try:
        return search_page(services.store.engine, wanted.query, wanted.limit, wanted.offset, wanted.order)
    except SearchUnavailable as exc:
        raise exceptions.NotImplemented(str(exc)) from None


def group_by_job(hits: list[SearchHit]) -> list[list[SearchHit]]:
    """Every job's hits together, jobs in the order of their first hit (newest or most relevant first)."""
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault(hit.job_id, []).append(hit)
    return list(groups.values())


def marked(hit: SearchHit) -> Markup:
    """The hit's text as HTML, escaped, each match in ``<mark>``."""
    parts, at = [], 0
    for start, end in hit.spans:
        parts += [escape(hit.text[at:start]), Markup("<mark>"), escape(hit.text[start:end]), Markup("</mark>")]
        at = end
    parts.append(escape(hit.text[at:]))
    return Markup("").join(parts)
