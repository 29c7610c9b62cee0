"""Webhooks send custom headers: name/value pairs added to every attempt and test

``webhooks.custom_headers`` holds them as a JSON object; null (every existing webhook) sends
none.

Revision ID: d5a8e3f1c2b7
Revises: c3f1a7d2e8b5
Create Date: 2026-12-05 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5a8e3f1c2b7'
down_revision = 'c3f1a7d2e8b5'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, as in 4b8c355eacfd: no table rebuild on SQLite.
    op.add_column('webhooks', sa.Column('custom_headers', sa.Text(), nullable=True))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop ix_webhooks_lower_name_id.
    op.drop_column('webhooks', 'custom_headers')
