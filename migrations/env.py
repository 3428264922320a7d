"""Alembic environment: runs migrations on an engine made like the job store's own."""

from __future__ import annotations

from alembic import context

from runner.core.db import make_engine
from runner.core.schema import Base
from runner.core.search import alembic_include_name

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run every pending migration in one transaction on the configured URL."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic configuration has no sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_name=alembic_include_name)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
