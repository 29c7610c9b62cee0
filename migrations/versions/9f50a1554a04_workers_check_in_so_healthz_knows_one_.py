"""Workers check in, so /healthz knows one is alive wherever it runs

Each delivery worker process keeps a row here fresh while it runs; the web server, which no
longer runs the worker itself under `make run`, reads it for /healthz.

Revision ID: 9f50a1554a04
Revises: 4b8c355eacfd
Create Date: 2026-12-04 18:18:32.017344

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9f50a1554a04'
down_revision = '4b8c355eacfd'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('workers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('engine', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workers'))
    )
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workers_seen_at'), ['seen_at'], unique=False)



def downgrade():
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workers_seen_at'))

    op.drop_table('workers')
