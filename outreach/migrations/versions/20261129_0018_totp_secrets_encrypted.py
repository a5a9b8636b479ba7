"""accounts: TOTP secrets encrypted at rest under a key derived from OUTREACH_SECRET_KEY

The column grows to hold a Fernet token (140 characters for a 32-character secret), and every
stored secret is encrypted (outreach.accounts.totp.seal). Downgrading decrypts them again; it
refuses if one does not decrypt with the current key rather than lose a second factor silently.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 15:00:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

users = sa.table('users', sa.column('id', sa.Integer), sa.column('totp_secret', sa.String))
# A secret as pyotp makes it is base32 (A-Z, 2-7); a Fernet token starts with "gAAAAA".
FERNET_PREFIX = 'gAAAAA'


def _key() -> str:
    return current_app.config['OUTREACH'].secret_key


def _stored(connection):
    return connection.execute(
        sa.select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None))
    ).all()


def upgrade():
    from outreach.accounts.totp import seal

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=200),
            existing_nullable=True,
        )
    connection = op.get_bind()
    key = _key()
    for user_id, secret in _stored(connection):
        if secret.startswith(FERNET_PREFIX):
            continue  # already encrypted
        connection.execute(
            users.update().where(users.c.id == user_id).values(totp_secret=seal(secret, key))
        )


def downgrade():
    from outreach.accounts.totp import unseal

    connection = op.get_bind()
    key = _key()
    for user_id, stored in _stored(connection):
        if not stored.startswith(FERNET_PREFIX):
            continue
        secret = unseal(stored, key)
        if secret is None:
            raise RuntimeError(
                f"the TOTP secret of user {user_id} does not decrypt with the current "
                "OUTREACH_SECRET_KEY: set the key it was encrypted with, or clear that user's "
                "second factor first"
            )
        connection.execute(
            users.update().where(users.c.id == user_id).values(totp_secret=secret)
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=200), type_=sa.String(length=64),
            existing_nullable=True,
        )
