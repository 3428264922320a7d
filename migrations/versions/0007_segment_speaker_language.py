"""segments.speaker and segments.language: the channel a segment was heard on (channels = separate)
and its own detected language (language = multi), kept with the checkpoint so a resumed job has them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('segments') as batch:
        batch.add_column(sa.Column('speaker', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('segments') as batch:
        batch.drop_column('language')
        batch.drop_column('speaker')
