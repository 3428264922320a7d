"""operations: job endings, webhook deliveries and attempts, callback_url and media_removed_at on jobs

The jobs that had already ended get their ending recorded (so the metrics' counters include them),
without any webhook delivery.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:03:48.146909
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ENDED = ('succeeded', 'failed', 'cancelled')


def upgrade() -> None:
    op.create_table('job_endings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=False),
    sa.Column('audio_seconds', sa.Float(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('processing_seconds', sa.Float(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'finished_at', name='uq_job_endings_job_id_finished_at')
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=26), nullable=False),
    sa.Column('job_finished_at', sa.DateTime(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'job_finished_at', 'url', name='uq_webhook_deliveries_job_id_job_finished_at_url')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_state_next_attempt_at', ['state', 'next_attempt_at'], unique=False)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('runner', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_attempts_delivery_id', ['delivery_id'], unique=False)

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('media_removed_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_jobs_finished_at', ['finished_at'], unique=False)

    _record_past_endings()


def _record_past_endings() -> None:
    jobs = sa.table('jobs', sa.column('id', sa.String), sa.column('status', sa.String),
                    sa.column('processed_seconds', sa.Float), sa.column('duration', sa.Float),
                    sa.column('started_at', sa.DateTime), sa.column('finished_at', sa.DateTime))
    endings = sa.table('job_endings', sa.column('job_id', sa.String), sa.column('status', sa.String),
                       sa.column('finished_at', sa.DateTime), sa.column('audio_seconds', sa.Float),
                       sa.column('duration', sa.Float), sa.column('processing_seconds', sa.Float),
                       sa.column('recorded_at', sa.DateTime))
    bind = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    ended = bind.execute(sa.select(jobs).where(jobs.c.status.in_(ENDED), jobs.c.finished_at.is_not(None))).all()
    rows = [{'job_id': job.id, 'status': job.status, 'finished_at': job.finished_at,
             'audio_seconds': job.processed_seconds or 0.0, 'duration': job.duration,
             'processing_seconds': (job.finished_at - job.started_at).total_seconds() if job.started_at else None,
             'recorded_at': now} for job in ended]
    if rows:
        bind.execute(endings.insert(), rows)



def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_finished_at')
        batch_op.drop_column('media_removed_at')
        batch_op.drop_column('callback_url')

    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_attempts_delivery_id')

    op.drop_table('webhook_attempts')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_state_next_attempt_at')

    op.drop_table('webhook_deliveries')
    op.drop_table('job_endings')
