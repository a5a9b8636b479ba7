"""signatures as the outbox of their confirmation mails: when one was claimed for sending

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 14:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_WAITING = "confirmation_requested_at IS NOT NULL AND confirmation_claimed_at IS NULL"


def upgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmation_claimed_at', sa.DateTime(timezone=True), nullable=True))
    # Confirmations requested before this revision had their job enqueued at once: they count
    # as claimed (the sweep gives one back to the outbox if its job was lost).
    op.execute(
        "UPDATE signatures SET confirmation_claimed_at = confirmation_requested_at "
        "WHERE confirmation_requested_at IS NOT NULL"
    )
    op.create_index(
        'ix_signatures_outbox', 'signatures', ['id'], unique=False,
        sqlite_where=sa.text(_WAITING), postgresql_where=sa.text(_WAITING),
    )


def downgrade():
    op.drop_index('ix_signatures_outbox', table_name='signatures')
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('confirmation_claimed_at')
