"""inbox_files.reason: why a file's results were skipped (media-library naming: a subtitle in that
language already exists beside the file or inside it)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox_files') as batch:
        batch.add_column(sa.Column('reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox_files') as batch:
        batch.drop_column('reason')
