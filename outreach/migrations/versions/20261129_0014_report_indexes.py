"""report indexes: the pictures and the dashboard read deliveries from indexes alone

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-29 11:20:00

A drive's pictures (outreach.reports) group its letters by state and by the period of their
created/sent/changed times, and by their official: with these columns in one index after the
campaign, those passes never read the (wide) table rows. The dashboard's activity reads the rows
changed in the last weeks over every drive (a row sent in that window was changed in it too).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(
            'ix_deliveries_campaign_timeline',
            ['campaign_id', 'state', 'created_at', 'sent_at', 'updated_at', 'contact_id'],
            unique=False,
        )
        batch_op.create_index(
            'ix_deliveries_updated_state_sent', ['updated_at', 'state', 'sent_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_updated_state_sent')
        batch_op.drop_index('ix_deliveries_campaign_timeline')
