"""output files: the identity (device, inode, size, mtime) of each output a runner wrote

Outputs written before this revision get the identity they have now if they are regular files
with one link, owned by the user running the migration (the service user); others are not served.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:30:00
"""

from __future__ import annotations

import json
import os
import stat

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('output_files',
    sa.Column('job_id', sa.String(length=26), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('device', sa.BigInteger(), nullable=False),
    sa.Column('inode', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'path')
    )
    rows = []
    for job_id, outputs in op.get_bind().execute(sa.text("SELECT id, outputs FROM jobs")):
        for path in json.loads(outputs or "[]"):
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_uid == os.geteuid():
                rows.append({"job_id": job_id, "path": path, "device": info.st_dev, "inode": info.st_ino,
                             "size": info.st_size, "mtime_ns": info.st_mtime_ns})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table('output_files')
