"""Migration 0018 encrypts the TOTP secrets already stored, and its downgrade gives them back,
on the backend under test (SQLite or PostgreSQL)."""

from __future__ import annotations

import pyotp
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from outreach.accounts.totp import unseal
from outreach.extensions import get_db


def _secrets(app: Flask) -> dict[str, str | None]:
    with get_db().engine.connect() as connection:
        rows = connection.execute(text("SELECT email, totp_secret FROM users ORDER BY email"))
        return {email: secret for email, secret in rows}


def test_migration_0018_encrypts_stored_secrets_and_its_downgrade_restores_them(
    app: Flask,
) -> None:
    """At 0017 two users have a secret in clear (as that version stored it) and one has none.
    Upgrading makes each a token that only the app's key opens to the same secret; downgrading
    back to 0017 gives the exact secrets again, and a second upgrade encrypts them once more."""
    secret_a, secret_b = pyotp.random_base32(), pyotp.random_base32()
    key = app.config["OUTREACH"].secret_key
    with app.app_context():
        get_db().dispose()
        downgrade(revision="0017")
        with get_db().engine.begin() as connection:
            for email, secret in (("a@example.org", secret_a), ("b@example.org", secret_b),
                                  ("c@example.org", None)):  # fmt: skip
                connection.execute(
                    text(
                        "INSERT INTO users (email, password_hash, role, active, totp_secret, "
                        "created_at, updated_at) VALUES (:e, 'x', 'admin', true, :s, "
                        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"e": email, "s": secret},
                )
        upgrade()
        encrypted = _secrets(app)
        assert encrypted["c@example.org"] is None
        for email, secret in (("a@example.org", secret_a), ("b@example.org", secret_b)):
            stored = encrypted[email]
            assert stored is not None
            assert secret not in stored
            assert len(stored) > 64  # the widened column holds the whole token
            assert unseal(stored, key) == secret

        downgrade(revision="0017")
        assert _secrets(app) == {
            "a@example.org": secret_a,
            "b@example.org": secret_b,
            "c@example.org": None,
        }
        upgrade()
        again = _secrets(app)
        assert unseal(again["a@example.org"], key) == secret_a
        assert unseal(again["b@example.org"], key) == secret_b
