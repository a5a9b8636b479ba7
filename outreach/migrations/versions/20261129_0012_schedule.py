"""a drive scheduled for later, and the campaign workspace's record of a test send

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-29 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('scheduled_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('scheduled_digest', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('schedule_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('test_sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_campaigns_scheduled_at', ['scheduled_at'], unique=False)


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index('ix_campaigns_scheduled_at')
        batch_op.drop_column('test_sent_at')
        batch_op.drop_column('schedule_error')
        batch_op.drop_column('scheduled_digest')
        batch_op.drop_column('scheduled_by')
        batch_op.drop_column('scheduled_at')
