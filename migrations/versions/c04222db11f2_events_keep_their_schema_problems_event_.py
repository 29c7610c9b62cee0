"""Events keep their schema problems; event types have a schema mode

``events.schema_problems`` holds where an event's data did not match its event type's JSON
Schema when it was accepted in "warn" mode (a JSON list, and ``schema_problem_count`` how many;
null for every existing event), and ``ix_events_schema_warned`` indexes those events by time
for the dashboard's count (small: only the warned events are in it). ``event_type_settings`` holds the mode an operator set for an
event type; none is set, so every event type follows SCHEMA_ENFORCEMENT.

Revision ID: c04222db11f2
Revises: 3e727be8f540
Create Date: 2026-12-06 02:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c04222db11f2'
down_revision = '3e727be8f540'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'event_type_settings',
        sa.Column('slug', sa.String(length=64), nullable=False),
        sa.Column('schema_mode', sa.String(length=8), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('slug'),
    )
    # Plain ADD COLUMN, as in d5a8e3f1c2b7: no table rebuild on SQLite.
    op.add_column('events', sa.Column('schema_problems', sa.Text(), nullable=True))
    op.add_column('events', sa.Column('schema_problem_count', sa.Integer(), nullable=True))
    op.create_index(
        'ix_events_schema_warned',
        'events',
        ['created_at', 'schema_problem_count'],
        unique=False,
        sqlite_where=sa.text('schema_problem_count IS NOT NULL'),
        postgresql_where=sa.text('schema_problem_count IS NOT NULL'),
    )


def downgrade():
    op.drop_index('ix_events_schema_warned', table_name='events')
    # Plain DROP COLUMN (SQLite 3.35+), once no index names the column: no table rebuild.
    op.drop_column('events', 'schema_problem_count')
    op.drop_column('events', 'schema_problems')
    op.drop_table('event_type_settings')
