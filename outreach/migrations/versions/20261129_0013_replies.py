"""replies inbox (triage, notes, assignment), follow-ups, "did your MEP reply?"

Revision ID: 0013
Revises: 0010
Create Date: 2026-11-29 13:00:00

Only new columns and tables: plain ADD COLUMN (no rebuild of a table, not even on SQLite).
`campaigns.parent_id` is a follow-up's parent: its foreign key is created on PostgreSQL only
(SQLite cannot add a constraint without a rebuild; the models declare it for both).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('inbound_messages', sa.Column('triage', sa.String(length=16), nullable=False, server_default='new'))
    op.add_column('inbound_messages', sa.Column('triaged_by', sa.String(length=320), nullable=True))
    op.add_column('inbound_messages', sa.Column('triaged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('inbound_messages', sa.Column('assigned_by', sa.String(length=320), nullable=True))
    op.add_column('inbound_messages', sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))

    op.add_column('campaigns', sa.Column('parent_id', sa.Integer(), nullable=True))
    op.add_column('campaigns', sa.Column('followup_days', sa.Integer(), nullable=True))
    op.add_column('campaigns', sa.Column('followup_scheduled_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_campaigns_parent_id'), 'campaigns', ['parent_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.create_foreign_key(
            op.f('fk_campaigns_parent_id_campaigns'), 'campaigns', 'campaigns',
            ['parent_id'], ['id'], ondelete='CASCADE',
        )
    op.add_column('deliveries', sa.Column('in_reply_to', sa.String(length=255), nullable=True))

    op.create_table(
        'reply_notes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('inbound_message_id', sa.Integer(), nullable=False),
        sa.Column('author', sa.String(length=320), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id'], name=op.f('fk_reply_notes_inbound_message_id_inbound_messages'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reply_notes')),
    )
    op.create_index(op.f('ix_reply_notes_inbound_message_id'), 'reply_notes', ['inbound_message_id'], unique=False)
    op.create_table(
        'mep_reply_questions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('signature_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answer', sa.String(length=8), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_mep_reply_questions_delivery_id_deliveries'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mep_reply_questions')),
        sa.UniqueConstraint('delivery_id', name=op.f('uq_mep_reply_questions_delivery_id')),
    )
    op.create_index(op.f('ix_mep_reply_questions_signature_id'), 'mep_reply_questions', ['signature_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_mep_reply_questions_signature_id'), table_name='mep_reply_questions')
    op.drop_table('mep_reply_questions')
    op.drop_index(op.f('ix_reply_notes_inbound_message_id'), table_name='reply_notes')
    op.drop_table('reply_notes')
    op.drop_column('deliveries', 'in_reply_to')
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('fk_campaigns_parent_id_campaigns'), 'campaigns', type_='foreignkey')
    op.drop_index(op.f('ix_campaigns_parent_id'), table_name='campaigns')
    for column in ('followup_scheduled_at', 'followup_days', 'parent_id'):
        op.drop_column('campaigns', column)
    for column in ('assigned_at', 'assigned_by', 'triaged_at', 'triaged_by', 'triage'):
        op.drop_column('inbound_messages', column)
