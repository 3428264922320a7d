"""Database engine and schema migrations.

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
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.exc import OperationalError
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
    """Create an engine; for SQLite, set WAL, the busy timeout and immediate write transactions.

    Use ``engine.execution_options(immediate=True)`` (see ``write_engine``) for transactions that write.
    """
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if is_sqlite else {})
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


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
