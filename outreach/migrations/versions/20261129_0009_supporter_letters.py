"""supporter letters (write to your MEPs), supporters' data rights, the audit log

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 12:00:00

Deliveries may now be a supporter's own letter (`role` 'supporter', `signature_id`): several
supporters write to the same MEP in one campaign, so the unique (campaign, contact) holds only for
staff letters (a partial unique index) and a supporter writes to an MEP once (signature, contact).

On SQLite, dropping the table constraint rebuilds `deliveries` (Alembic's batch mode); the
migration environment turns foreign keys off meanwhile (outreach/migrations/env.py), so the old
table's drop deletes none of its `delivery_events`.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

STAFF_LETTER = sa.text("role <> 'supporter'")


def upgrade():
    # Plain ADD COLUMN: new columns need no rebuild of the table, not even on SQLite.
    op.add_column('campaigns', sa.Column('supporter_letters', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('campaigns', sa.Column('supporter_committees', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('campaigns', sa.Column('supporter_daily_cap', sa.Integer(), nullable=True))
    op.add_column('campaigns', sa.Column('supporter_message', sa.Text(), nullable=True))
    op.add_column('campaigns', sa.Column('supporter_message_max', sa.Integer(), nullable=False, server_default='1500'))

    op.add_column('signatures', sa.Column('letter_message', sa.Text(), nullable=True))
    op.add_column('signatures', sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('signatures', sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_signatures_email', 'signatures', ['email'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signature_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('send_on', sa.Date(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_deliveries_signature_id_signatures'), 'signatures',
            ['signature_id'], ['id'], ondelete='SET NULL',
        )
        batch_op.drop_constraint('uq_deliveries_campaign_contact', type_='unique')
    op.create_index(
        'uq_deliveries_campaign_contact', 'deliveries', ['campaign_id', 'contact_id'], unique=True,
        sqlite_where=STAFF_LETTER, postgresql_where=STAFF_LETTER,
    )
    op.create_index('uq_deliveries_signature_contact', 'deliveries', ['signature_id', 'contact_id'], unique=True)
    op.create_index('ix_deliveries_campaign_contact_send_on', 'deliveries', ['campaign_id', 'contact_id', 'send_on'])

    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    )


def downgrade():
    op.drop_table('audit_events')
    op.drop_index('ix_deliveries_campaign_contact_send_on', table_name='deliveries')
    op.drop_index('uq_deliveries_signature_contact', table_name='deliveries')
    op.drop_index('uq_deliveries_campaign_contact', table_name='deliveries')
    # Supporter letters cannot be kept under the old unique (campaign, contact).
    # Their events and the inbound mail matched to them go first: foreign keys are not enforced
    # during migrations on SQLite (env.py), so no cascade would do it.
    supporter_letters = "SELECT id FROM deliveries WHERE role = 'supporter'"
    op.execute(f"DELETE FROM delivery_events WHERE delivery_id IN ({supporter_letters})")
    op.execute(f"UPDATE inbound_messages SET delivery_id = NULL WHERE delivery_id IN ({supporter_letters})")
    op.execute("DELETE FROM deliveries WHERE role = 'supporter'")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_deliveries_campaign_contact', ['campaign_id', 'contact_id'])
        batch_op.drop_constraint(batch_op.f('fk_deliveries_signature_id_signatures'), type_='foreignkey')
        batch_op.drop_column('send_on')
        batch_op.drop_column('signature_id')

    op.drop_index('ix_signatures_email', table_name='signatures')
    # DROP COLUMN (SQLite 3.35+) rather than a batch rebuild, for the reason given in upgrade().
    for column in ('unsubscribed_at', 'withdrawn_at', 'letter_message'):
        op.drop_column('signatures', column)
    for column in ('supporter_message_max', 'supporter_message', 'supporter_daily_cap',
                   'supporter_committees', 'supporter_letters'):
        op.drop_column('campaigns', column)
