"""supporters: signatures, privacy notices, a campaign's public page settings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slug', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('signing_open', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('signature_goal', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cosigner_display', sa.String(length=8), nullable=False, server_default='none'))
        batch_op.add_column(sa.Column('privacy_notice', sa.Text(), nullable=True))
        batch_op.create_unique_constraint('uq_campaigns_slug', ['slug'])

    op.create_table(
        'privacy_notices',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('first_used_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_privacy_notices')),
    )
    op.create_table(
        'signatures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('organisation', sa.String(length=200), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('consent', sa.Boolean(), nullable=False),
        sa.Column('privacy_notice_sha256', sa.String(length=64), nullable=False),
        sa.Column('updates_opt_in', sa.Boolean(), nullable=False),
        sa.Column('named', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('ip_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('confirmation_requested_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('confirmation_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reminder_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reviewed_by', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_signatures_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['privacy_notice_sha256'], ['privacy_notices.sha256'], name=op.f('fk_signatures_privacy_notice_sha256_privacy_notices'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signatures')),
        sa.UniqueConstraint('campaign_id', 'email', name='uq_signatures_campaign_email'),
    )
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index('ix_signatures_campaign_state', ['campaign_id', 'state'], unique=False)
        batch_op.create_index('ix_signatures_campaign_ip_created', ['campaign_id', 'ip_hash', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_signatures_campaign_ip_created')
        batch_op.drop_index('ix_signatures_campaign_state')
    op.drop_table('signatures')
    op.drop_table('privacy_notices')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint('uq_campaigns_slug', type_='unique')
        batch_op.drop_column('privacy_notice')
        batch_op.drop_column('cosigner_display')
        batch_op.drop_column('signature_goal')
        batch_op.drop_column('signing_open')
        batch_op.drop_column('slug')
