"""Webhooks receive several events, or all events: webhook_events and webhooks.all_events

A webhook's events move from its ``event`` column to ``webhook_events``, one row per event
(each existing webhook gets the one row of its event); ``all_events`` marks a webhook that
receives every event, those added later included. The downgrade puts back the column with each
webhook's first event, and ``*`` for one that receives every event (which the older version
delivers nothing to).

Revision ID: a4e7c2d9b1f3
Revises: c04222db11f2
Create Date: 2026-12-06 02:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4e7c2d9b1f3'
down_revision = 'c04222db11f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'webhook_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('webhook_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('webhook_id', 'event', name='uq_webhook_events_webhook_id_event'),
    )
    op.create_index(
        'ix_webhook_events_event_webhook_id', 'webhook_events', ['event', 'webhook_id']
    )
    op.execute(
        'INSERT INTO webhook_events (webhook_id, event) SELECT id, event FROM webhooks ORDER BY id'
    )
    # Plain ADD/DROP COLUMN, as in d5a8e3f1c2b7: a batch rebuild on SQLite would drop
    # ix_webhooks_lower_name_id.
    op.add_column(
        'webhooks',
        sa.Column('all_events', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )
    op.create_index('ix_webhooks_all_events_active', 'webhooks', ['all_events', 'active'])
    op.drop_index('ix_webhooks_event_active', table_name='webhooks')
    op.drop_column('webhooks', 'event')


def downgrade():
    # NOT NULL needs a default to be added; PostgreSQL drops it once every row has its event.
    op.add_column(
        'webhooks',
        sa.Column('event', sa.String(length=64), server_default='', nullable=False),
    )
    op.execute(
        "UPDATE webhooks SET event = '*' WHERE all_events"
    )
    op.execute(
        'UPDATE webhooks SET event = (SELECT webhook_events.event FROM webhook_events '
        'WHERE webhook_events.webhook_id = webhooks.id ORDER BY webhook_events.id LIMIT 1) '
        'WHERE NOT all_events AND EXISTS '
        '(SELECT 1 FROM webhook_events WHERE webhook_events.webhook_id = webhooks.id)'
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('webhooks', 'event', server_default=None)
    op.create_index('ix_webhooks_event_active', 'webhooks', ['event', 'active'])
    op.drop_index('ix_webhooks_all_events_active', table_name='webhooks')
    op.drop_column('webhooks', 'all_events')
    op.drop_index('ix_webhook_events_event_webhook_id', table_name='webhook_events')
    op.drop_table('webhook_events')
