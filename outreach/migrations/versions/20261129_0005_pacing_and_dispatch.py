"""pacing, pause and cancel, dispatch marker

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pace_hours', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('office_hours', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('deadline', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('abandoned_claims', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deliveries_campaign_sent_at', ['campaign_id', 'sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_campaign_sent_at')
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('abandoned_claims')
        batch_op.drop_column('claim_token')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('deadline')
        batch_op.drop_column('office_hours')
        batch_op.drop_column('pace_hours')
