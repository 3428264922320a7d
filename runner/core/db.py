"""Database engine, the database's clock, and schema migrations.

The job store is SQLite (embedded, the default) or PostgreSQL (``postgresql+psycopg://``, for
runners on several hosts). Every time the store writes or compares comes from the database's clock
(``utc_now``), never from the host's, so a host whose clock is off cannot steal or lose a lease.

SQLite runs in WAL mode (readers never block the writer) with a busy timeout, and write
transactions start with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout
instead of failing with "database is locked" when a read lock cannot be upgraded
(see https://www.sqlite.org/lang_transaction.html and SQLAlchemy's "pysqlite serializable" recipe).
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, CursorResult, DateTime, Engine, Result, bindparam, create_engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from runner.core.errors import SpoolscribeError
from runner.core.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
BUSY_TIMEOUT_MS = 30_000


class SchemaMismatch(SpoolscribeError):
    """The database's schema revision is one this code does not know (it is newer than the code),
    or an older one while ``Settings.auto_migrate`` is off."""


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, set WAL, the busy timeout and immediate write transactions;
    for a server (PostgreSQL), check pooled connections before use so a restarted server is survived.

    Use ``engine.execution_options(immediate=True)`` (see ``write_engine``) for transactions that write.
    """
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


class utc_now(FunctionElement[datetime]):  # noqa: N801 - used like SQL's own now()
    """SQL for the database's clock as a naive UTC timestamp, plus ``offset`` seconds (a float,
    negative for the past): ``timezone('utc', now()) + offset * interval '1 second'`` on PostgreSQL
    (the transaction's start), ``strftime(..., 'now', '+offset seconds')`` on SQLite (the statement's
    start; SQLAlchemy's own text format for DATETIME, so that comparisons with stored times hold).
    """

    type = DateTime()
    inherit_cache = True
    name = "utc_now"

    def __init__(self, offset: float = 0.0) -> None:
        super().__init__(bindparam(None, float(offset), type_=None, unique=True))


@compiles(utc_now, "postgresql")
def _utc_now_postgresql(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    offset = compiler.process(element.clauses, **kw)
    return f"(timezone('utc', now()) + CAST({offset} AS DOUBLE PRECISION) * interval '1 second')"


@compiles(utc_now, "sqlite")
def _utc_now_sqlite(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    offset = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f000', 'now', printf('%+.6f seconds', {offset}))"


def database_now(bind: Engine | Connection | Session) -> datetime:
    """The database's clock now, naive UTC (for the few times needed outside a statement: a time
    shown, a cutoff handed to several statements), read on ``bind``: in its transaction when it is
    a connection or a session, on a connection of its own when it is an engine."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return database_now(conn)
    return bind.execute(select(utc_now())).scalar_one()


def is_postgresql(engine: Engine) -> bool:
    """True when the job store is PostgreSQL (which has LISTEN/NOTIFY)."""
    return engine.dialect.name == "postgresql"


def write_engine(engine: Engine) -> Engine:
    """The same engine, whose transactions take SQLite's write lock at BEGIN."""
    return engine.execution_options(immediate=True)


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it badly).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(connection) -> None:
    immediate = connection.get_execution_options().get("immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


retry_when_busy = retry(
    retry=retry_if_exception(_is_busy),
    wait=wait_exponential(multiplier=0.2, max=5),
    stop=stop_after_attempt(6),
    reraise=True,
)
"""Decorator: retry a short transaction that met "database is locked" even after the busy
timeout (about 30 s), with exponential backoff, up to 6 tries; then the error propagates."""


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` with the project's ``migrations/`` directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched: ``Session.execute`` types its result as a plain
    ``Result``, but for those statements it is a ``CursorResult``."""
    return cast(CursorResult[Any], result).rowcount


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """Return ``(current, head)``: the database's revision (None if unmigrated) and the code's head."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = script.get_current_head()
    if head is None:  # cannot happen: the migrations ship with the code
        raise RuntimeError("the migrations directory has no revisions")
    return current, head


def _known_revisions(url: str) -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()}


@contextmanager
def _migration_lock(settings: Settings) -> Iterator[None]:
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.home / ".migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(settings: Settings) -> tuple[str | None, str]:
    """Apply every pending migration (``alembic upgrade head``) under a lock; return (before, after).

    Raises:
        SchemaMismatch: the database carries a revision this code does not know.
    """
    with _migration_lock(settings):
        engine = make_engine(settings.database_url)
        try:
            before, head = schema_revisions(engine)
            if before is not None and before not in _known_revisions(settings.database_url):
                raise SchemaMismatch(
                    f"the database schema is at revision {before}, which this version of spoolscribe "
                    f"does not know (its newest is {head}); upgrade spoolscribe or use another database"
                )
            if before != head:
                log.info("migrating database from %s to %s", before or "empty", head)
                command.upgrade(alembic_config(settings.database_url), "head")
            return before, head
        finally:
            engine.dispose()


def open_database(settings: Settings) -> Engine:
    """Bring the schema up to date if it is behind (unless ``settings.auto_migrate`` is off), then
    return an engine for the job store.

    Raises:
        SchemaMismatch: the database is newer than this code, or behind it with auto_migrate off.
    """
    engine = make_engine(settings.database_url)
    current, head = schema_revisions(engine)
    if current != head and not settings.auto_migrate and (
            current is None or current in _known_revisions(settings.database_url)):
        engine.dispose()
        raise SchemaMismatch(
            f"the database schema is at revision {current or 'empty'}, older than this version of "
            f"spoolscribe ({head}), and SPOOLSCRIBE_AUTO_MIGRATE is off; run `spoolscribe db upgrade` "
            f"(under systemd: systemctl restart spoolscribe-migrate.service) first")
    if current != head:
        upgrade(settings)
    return engine
