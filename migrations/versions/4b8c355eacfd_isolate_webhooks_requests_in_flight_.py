"""Isolate webhooks: requests in flight, a rate limit and a circuit breaker per webhook; the
queue's partial indexes

Each webhook gets ``max_in_flight`` (10 for existing ones), an optional ``rate_limit`` and its
breaker's state. The queue's index covers only the deliveries still to send, in the order a
claim reads them, with their webhook; two more serve one webhook's queue and the requests in
flight.

Revision ID: 4b8c355eacfd
Revises: 786ab9f202de
Create Date: 2026-12-04 16:27:34.575791

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4b8c355eacfd'
down_revision = '786ab9f202de'
branch_labels = None
depends_on = None

DUE = sa.text("status IN ('pending', 'failing')")
LEASED = sa.text('lease_token IS NOT NULL')


def upgrade():
    # Plain ALTER TABLE … ADD COLUMN: a batch operation would rebuild the table on SQLite and
    # lose its expression index (ix_webhooks_lower_name_id).
    op.add_column(
        'webhooks',
        sa.Column('max_in_flight', sa.Integer(), nullable=False, server_default=sa.text('10')),
    )
    op.add_column('webhooks', sa.Column('rate_limit', sa.Integer(), nullable=True))
    op.add_column('webhooks', sa.Column('rate_slot_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        'webhooks',
        sa.Column('consecutive_failures', sa.Integer(), nullable=False, server_default=sa.text('0')),
    )
    op.add_column('webhooks', sa.Column('down_since', sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        'webhooks', sa.Column('next_probe_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        'webhooks',
        sa.Column('probe_step', sa.Integer(), nullable=False, server_default=sa.text('0')),
    )

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_due')
        batch_op.create_index(
            'ix_deliveries_due',
            ['next_attempt_at', 'webhook_id'],
            unique=False,
            sqlite_where=DUE,
            postgresql_where=DUE,
            postgresql_include=['id'],
        )
        batch_op.create_index(
            'ix_deliveries_webhook_due',
            ['webhook_id', 'next_attempt_at'],
            unique=False,
            sqlite_where=DUE,
            postgresql_where=DUE,
        )
        batch_op.create_index(
            'ix_deliveries_leased',
            ['webhook_id'],
            unique=False,
            sqlite_where=LEASED,
            postgresql_where=LEASED,
        )


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_leased')
        batch_op.drop_index('ix_deliveries_webhook_due')
        batch_op.drop_index('ix_deliveries_due')
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)

    for column in (
        'probe_step',
        'next_probe_at',
        'down_since',
        'consecutive_failures',
        'rate_slot_at',
        'rate_limit',
        'max_in_flight',
    ):
        op.drop_column('webhooks', column)
