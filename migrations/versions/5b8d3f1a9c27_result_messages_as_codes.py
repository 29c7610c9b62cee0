"""Results and disable reasons also stored as codes with params, for pages in every language

deliveries.last_message, attempts.message, webhooks.last_delivery_message and
webhooks.disabled_message hold ``{"code": ..., "params": ...}`` beside the English text
(docs/result-messages.md). Existing rows get NULL: pages show their stored text.

Revision ID: 5b8d3f1a9c27
Revises: a4e7c2d9b1f3
Create Date: 2026-12-06 04:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b8d3f1a9c27'
down_revision = 'a4e7c2d9b1f3'
branch_labels = None
depends_on = None

COLUMNS = (
    ('deliveries', 'last_message'),
    ('attempts', 'message'),
    ('webhooks', 'last_delivery_message'),
    ('webhooks', 'disabled_message'),
)


def upgrade():
    for table, column in COLUMNS:
        op.add_column(table, sa.Column(column, sa.JSON(), nullable=True))


def downgrade():
    # Plain ALTER TABLE, on SQLite too (3.35+): rebuilding a table in batch mode would lose
    # the expression indexes.
    for table, column in reversed(COLUMNS):
        op.drop_column(table, column)
