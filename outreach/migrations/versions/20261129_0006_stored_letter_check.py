"""the check of every copy remembered, so that launch need not render them all again

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('check_digest', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('check_errors', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('check_warnings', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('checked_at')
        batch_op.drop_column('check_warnings')
        batch_op.drop_column('check_errors')
        batch_op.drop_column('check_digest')
        batch_op.drop_column('check_fingerprint')
