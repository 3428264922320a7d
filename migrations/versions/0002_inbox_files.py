"""inbox_files: the exactly-once record of the files taken from the inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:36:06.034487
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbox_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('job_id', sa.String(length=26), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inbox_files', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_files_path', ['path'], unique=False)
        batch_op.create_index('ix_inbox_files_sha256', ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbox_files', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_files_sha256')
        batch_op.drop_index('ix_inbox_files_path')

    op.drop_table('inbox_files')
