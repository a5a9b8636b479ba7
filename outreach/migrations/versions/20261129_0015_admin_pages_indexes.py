"""admin pages: an official's letters and a campaign's letters in order, found by index

Revision ID: 0015
Revises: 0010
Create Date: 2026-11-29 11:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_contact_id', ['contact_id'], unique=False)
        batch_op.create_index('ix_deliveries_campaign_id_id', ['campaign_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_campaign_id_id')
        batch_op.drop_index('ix_deliveries_contact_id')
