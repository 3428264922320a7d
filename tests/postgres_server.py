"""A real PostgreSQL server for the test session: ``initdb`` and ``pg_ctl`` (Debian's ``postgresql``
package, installed by scripts/install.sh) in a temporary directory, listening only on a unix socket
in that directory, started once and stopped at the session's end.

Both programs refuse to run as root, so under root they run as the unprivileged ``nobody`` user
(``runuser``), which owns the temporary directory. Durability is off (``fsync=off``): test data is
thrown away (a benchmark asks for ``durable``). A database migrated once by Alembic is the template
of the fresh database each test gets (``CREATE DATABASE ... TEMPLATE``: a file copy, a few tens of
milliseconds).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from runner.core.db import upgrade
from runner.core.settings import Settings

UNPRIVILEGED_USER = "nobody"
SUPERUSER = "spoolscribe"
TEMPLATE = "spoolscribe_template"
START_TIMEOUT_SECONDS = 60


def postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: Debian's newest ``/usr/lib/postgresql/<ver>/bin``,
    else the one on PATH; None when PostgreSQL's server programs are not installed."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    found = debian[-1] if debian else shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresServer:
    """One running server; ``fresh_database()`` and ``empty_database()`` hand out URLs
    (``postgresql+psycopg://spoolscribe@/<name>?host=<socket dir>``). With ``durable`` it keeps
    PostgreSQL's default durability (fsync, synchronous commit), as a benchmark should."""

    def __init__(self, bin_dir: Path, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="spoolscribe-pg-"))  # under /tmp: reachable by nobody
        self.data = self.root / "data"
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            shutil.chown(self.root, UNPRIVILEGED_USER)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = f"-k {self.root} -c listen_addresses='' -c max_connections=300"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w",
                  "-t", str(START_TIMEOUT_SECONDS), "start")
        self._execute(f"CREATE DATABASE {TEMPLATE}")
        home = self.root / "template-home"
        upgrade(Settings(home=home, database_url=self.url(TEMPLATE)))
        shutil.rmtree(home)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.root}"

    def fresh_database(self) -> str:
        """A new database with the current schema (a copy of the migrated template); its URL."""
        name = f"test_{next(self._names)}"
        self._execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def empty_database(self) -> str:
        """A new, empty database (no tables, not migrated); its URL."""
        name = f"empty_{next(self._names)}"
        self._execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url`` (one this server handed out), closing its connections that
        are still open (engines a test left behind), so they do not add up to ``max_connections``."""
        self._execute(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server at once and remove its directory."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _execute(self, statement: str) -> None:
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", UNPRIVILEGED_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS + 30)
        if result.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n"
                               + (log.read_text() if log.exists() else ""))
