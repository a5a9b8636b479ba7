"""admin pages: stored figures of the report and the dashboard, the check of every copy run on a worker

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 14:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'report_snapshots',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('marker', sa.String(length=200), nullable=False),
        sa.Column('last_change', sa.DateTime(timezone=True), nullable=True),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('refresh_queued_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_report_snapshots')),
    )
    op.create_table(
        'letter_checks',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=True),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('report', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_letter_checks_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_letter_checks')),
    )


def downgrade():
    op.drop_table('letter_checks')
    op.drop_table('report_snapshots')
