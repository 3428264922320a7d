"""transcript search and editing: transcript_segments (what search finds and the page edits),
segment_versions (each edit); on SQLite the FTS5 tables and their triggers, on PostgreSQL
unaccent and a GIN index

Existing succeeded jobs are indexed from their JSON output, or, without a usable one, from their
checkpointed segments (``runner.jobs.transcripts.rebuild_index``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runner.core.search import POSTGRES_DDL, POSTGRES_DROP, SQLITE_DDL, SQLITE_TABLES
from runner.jobs.transcripts import rebuild_index

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transcript_segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=26), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('start', sa.Float(), nullable=False),
    sa.Column('end', sa.Float(), nullable=False),
    sa.Column('speaker', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('spaceless', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'index', name='uq_transcript_segments_job_id_index')
    )
    op.create_table('segment_versions',
    sa.Column('job_id', sa.String(length=26), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('edited_at', sa.DateTime(), nullable=False),
    sa.Column('edited_by', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'index', 'version')
    )
    bind = op.get_bind()
    for statement in {"sqlite": SQLITE_DDL, "postgresql": POSTGRES_DDL}.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)
    rebuild_index(bind)


def downgrade() -> None:
    bind = op.get_bind()
    drops = {"sqlite": tuple(f"DROP TABLE {table}" for table in SQLITE_TABLES), "postgresql": POSTGRES_DROP}
    for statement in drops.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)
    op.drop_table('segment_versions')
    op.drop_table('transcript_segments')
