"""Copying one job store into another: the SQLite store of a single server into the PostgreSQL
store that a second host will share (docs/deployment.md, "Two hosts").

Everything moves, not only the jobs: the inbox's ledger (without it the inbox daemon would take
every file already in the inbox again), the outputs' identities, endings, webhook deliveries,
the search index's rows and the edit versions. Rows keep their keys; on PostgreSQL the sequences
behind integer keys are moved past the copied ones afterwards.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, Integer, Table, func, insert, select, text

from runner.core.db import schema_revisions, write_engine
from runner.core.errors import SpoolscribeError
from runner.core.schema import Base

BATCH_ROWS = 1_000
"""Rows read and inserted at a time (memory stays flat for a million segments)."""


class StoreCopyError(SpoolscribeError):
    """The copy cannot start: a store is not at the code's schema revision, or the target is not empty."""


def copy_store(source: Engine, target: Engine) -> dict[str, int]:
    """Copy every row of every table of the models (``Base.metadata``, parents before children)
    from ``source`` into ``target``, in one transaction on the target; return the rows copied per
    table name. Nothing is written to ``source``.

    Raises:
        StoreCopyError: either store is not migrated to the code's head revision (run
            ``spoolscribe db upgrade`` on it), or ``target`` already holds rows.
    """
    for role, engine in (("source", source), ("target", target)):
        current, head = schema_revisions(engine)
        if current != head:
            raise StoreCopyError(f"the {role} store is at revision {current or 'none'}, not {head}: run "
                                 f"`spoolscribe --database-url URL db upgrade` on it first")
    copied: dict[str, int] = {}
    with source.connect() as reading, write_engine(target).begin() as writing:
        for table in Base.metadata.sorted_tables:
            if writing.execute(select(func.count()).select_from(table)).scalar_one():
                raise StoreCopyError(f"the target store is not empty (table {table.name} has rows): copy into "
                                     "a new, migrated database")
        for table in Base.metadata.sorted_tables:
            copied[table.name] = 0
            rows = reading.execution_options(yield_per=BATCH_ROWS).execute(select(table)).mappings()
            for batch in rows.partitions():
                writing.execute(insert(table), [dict(row) for row in batch])
                copied[table.name] += len(batch)
            if writing.dialect.name == "postgresql":
                _move_sequence(writing, table)
    return copied


def _move_sequence(connection: Connection, table: Table) -> None:
    """Set the sequence of ``table``'s integer key (if it has one) past its largest copied value."""
    key = list(table.primary_key.columns)
    if len(key) != 1 or not isinstance(key[0].type, Integer) or key[0].autoincrement is False:
        return
    connection.execute(text(
        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{key[0].name}'), "
        f"coalesce(max({key[0].name}), 1), max({key[0].name}) IS NOT NULL) FROM {table.name}"))
