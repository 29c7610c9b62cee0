"""Index deliveries by status, created_at, webhook_id for the dashboard

The dashboard counts the last day's deliveries by status and hour, and each webhook's failures
of the last day, from this index alone: one range per status and hour, whatever the size of
the delivery log. Building it reads the deliveries once (about a second per million); writes
to the table wait meanwhile.

Revision ID: 3e727be8f540
Revises: d5a8e1f3b7c2
Create Date: 2026-12-05 11:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3e727be8f540'
down_revision = 'd5a8e1f3b7c2'
branch_labels = None
depends_on = None


def upgrade():
    # Plain CREATE INDEX, not a batch operation: on SQLite that would rebuild the table.
    op.create_index(
        'ix_deliveries_status_created_at',
        'deliveries',
        ['status', 'created_at', 'webhook_id'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_deliveries_status_created_at', table_name='deliveries')
