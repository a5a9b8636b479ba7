"""tracking: inbound messages (bounces, replies, auto-replies), soft-bounce score of contacts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'inbound_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_key', sa.String(length=255), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('via', sa.String(length=16), nullable=False),
        sa.Column('envelope_from', sa.String(length=320), nullable=True),
        sa.Column('envelope_to', sa.JSON(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=True),
        sa.Column('detected_by', sa.String(length=32), nullable=True),
        sa.Column('from_address', sa.String(length=320), nullable=True),
        sa.Column('subject', sa.Text(), nullable=True),
        sa.Column('delivery_id', sa.Integer(), nullable=True),
        sa.Column('matched_by', sa.String(length=32), nullable=True),
        sa.Column('supporter_id', sa.Integer(), nullable=True),
        sa.Column('match_note', sa.Text(), nullable=True),
        sa.Column('bounce_address', sa.String(length=320), nullable=True),
        sa.Column('bounce_status', sa.String(length=16), nullable=True),
        sa.Column('bounce_smtp_code', sa.Integer(), nullable=True),
        sa.Column('bounce_reason', sa.String(length=32), nullable=True),
        sa.Column('bounce_diagnostic', sa.Text(), nullable=True),
        sa.Column('reply_text', sa.Text(), nullable=True),
        sa.Column('quoted_text', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_inbound_messages_delivery_id_deliveries'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
        sa.UniqueConstraint('message_key', name=op.f('uq_inbound_messages_message_key')),
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_messages_state_received', ['state', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_delivery_id'), ['delivery_id'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounce_score', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_bounce_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('last_bounce_at')
        batch_op.drop_column('bounce_score')

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_delivery_id'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_kind'))
        batch_op.drop_index('ix_inbound_messages_state_received')

    op.drop_table('inbound_messages')
