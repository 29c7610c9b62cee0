"""BIGINT ids for what grows with the traffic: events, deliveries, attempts

On PostgreSQL their ids (and the columns referring to them) were INTEGER, which runs out after
2,147,483,647 rows: a few years of a busy platform. They become BIGINT, and so do their
sequences. SQLite's INTEGER PRIMARY KEY is 64 bits already: nothing changes there.

The ALTERs rewrite the three tables, holding a lock on each while they do: on a large
installation, run this upgrade in a quiet hour.

Revision ID: b7e2d4c1a9f0
Revises: 9f50a1554a04
Create Date: 2026-12-04 19:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e2d4c1a9f0'
down_revision = '9f50a1554a04'
branch_labels = None
depends_on = None

COLUMNS = [
    ('events', 'id'),
    ('deliveries', 'id'),
    ('deliveries', 'event_id'),
    ('attempts', 'id'),
    ('attempts', 'delivery_id'),
]
SEQUENCES = ['events_id_seq', 'deliveries_id_seq', 'attempts_id_seq']


def _change(kind, sequence_kind):
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=kind)
    for sequence in SEQUENCES:
        op.execute(f'ALTER SEQUENCE {sequence} AS {sequence_kind}')


def upgrade():
    _change(sa.BigInteger(), 'bigint')


def downgrade():
    _change(sa.Integer(), 'integer')
