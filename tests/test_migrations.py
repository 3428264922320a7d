"""The schema comes from Alembic migrations only, and matches the models exactly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from runner.core.db import make_engine, schema_revisions, upgrade
from runner.core.schema import Base
from runner.core.search import alembic_include_name


def test_upgrade_on_an_empty_database_yields_the_models_schema(app):
    before, head = upgrade(app.settings)
    assert before is None
    engine = make_engine(app.settings.database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"include_name": alembic_include_name}),
                                Base.metadata) == []
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    assert schema_revisions(engine) == (head, head)
    assert set(inspect(engine).get_table_names()) >= {"jobs", "segments", "runners", "alembic_version"}


def test_upgrade_twice_is_harmless(app):
    upgrade(app.settings)
    assert upgrade(app.settings)[0] == upgrade(app.settings)[1]


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
