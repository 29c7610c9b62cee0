"""Events are expanded into deliveries by the engine, not by the request that stores them

``expanded_at`` is set when the engine has written an event's deliveries; a partial index keeps
the events still to expand. Every event stored before this revision has its deliveries already:
they count as expanded when they were stored.

Revision ID: c3f1a7d2e8b5
Revises: b7e2d4c1a9f0
Create Date: 2026-12-04 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3f1a7d2e8b5'
down_revision = 'b7e2d4c1a9f0'
branch_labels = None
depends_on = None

UNEXPANDED = sa.text('expanded_at IS NULL')


def upgrade():
    # Plain ADD COLUMN, as in 4b8c355eacfd: no table rebuild on SQLite.
    op.add_column('events', sa.Column('expanded_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE events SET expanded_at = created_at')
    op.create_index(
        'ix_events_unexpanded',
        'events',
        ['id'],
        unique=False,
        sqlite_where=UNEXPANDED,
        postgresql_where=UNEXPANDED,
    )


def downgrade():
    # Events not expanded yet would never be: downgrade with the workers drained.
    op.drop_index('ix_events_unexpanded', table_name='events')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('expanded_at')
