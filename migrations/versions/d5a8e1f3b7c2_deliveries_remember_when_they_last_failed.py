"""Deliveries remember when they last failed

``failed_at`` is set when an attempt fails or a delivery is given up (its schedule exhausted,
its webhook disabled or inactive), so "Retry all failed since" finds what failed since a
moment, including the deliveries failed when their webhook was disabled. Deliveries stored
before this revision have none; they are matched by when they were created, as before.

Revision ID: d5a8e1f3b7c2
Revises: d5a8e3f1c2b7
Create Date: 2026-12-05 11:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5a8e1f3b7c2'
down_revision = 'd5a8e3f1c2b7'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, as in 4b8c355eacfd: no table rebuild on SQLite.
    op.add_column('deliveries', sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('failed_at')
