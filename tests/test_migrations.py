"""The schema comes from Alembic migrations only, and matches the models exactly, on SQLite and on
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import STORES
from sqlalchemy import inspect

from runner.core.db import make_engine, schema_revisions, upgrade
from runner.core.schema import Base
from runner.core.search import alembic_include_name
from runner.core.settings import Settings


@pytest.fixture(params=STORES)
def empty(request: pytest.FixtureRequest, home: Path) -> Settings:
    """Settings whose job store is an empty database: a SQLite file not yet made, or a new
    database on the session's PostgreSQL server."""
    url = request.getfixturevalue("postgres").empty_database() if request.param == "postgresql" else ""
    return Settings(home=home, database_url=url)


def test_upgrade_on_an_empty_database_yields_the_models_schema(empty):
    before, head = upgrade(empty)
    assert before is None
    engine = make_engine(empty.database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"include_name": alembic_include_name}),
                                Base.metadata) == []
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    assert schema_revisions(engine) == (head, head)
    assert set(inspect(engine).get_table_names()) >= {"jobs", "segments", "runners", "alembic_version"}
    engine.dispose()


def test_upgrade_twice_is_harmless(empty):
    upgrade(empty)
    assert upgrade(empty)[0] == upgrade(empty)[1]


@pytest.mark.slow
def test_a_command_migrates_a_database_it_finds_behind(cli, app):
    assert not app.settings.home.joinpath("spoolscribe.db").exists()
    result = cli("status")
    assert result.returncode == 0, result.stderr
    engine = make_engine(app.settings.database_url)
    current, head = schema_revisions(engine)
    assert current == head


@pytest.mark.slow
def test_a_database_newer_than_the_code_is_refused(cli, app):
    upgrade(app.settings)
    engine = make_engine(app.settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'from_the_future'")
    result = cli("status")
    assert result.returncode == 1
    assert "does not know" in result.stderr and "from_the_future" in result.stderr
