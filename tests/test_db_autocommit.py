"""`Database.autocommit()`, the connection the public form signs on: each statement is stored as
it runs, sign() refuses a connection whose work could still be rolled back, and on SQLite the
connection never switches mode (a switch there re-prepares every statement it had)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from outreach.campaigns.models import Campaign
from outreach.extensions import get_db
from outreach.supporters.models import Signature
from outreach.supporters.signing import SignatureInput, sign
from tests.supporters import public_campaign


def _supporter(n: int) -> SignatureInput:
    return SignatureInput(
        name=f"Supporter {n}", email=f"s{n}@example.org", country="BE", privacy_notice="Notice"
    )


def _stored(email: str) -> int:
    """Signatures with this address, read on a connection of the session's own pool."""
    with get_db().engine.connect() as reader:
        query = select(func.count()).select_from(Signature).where(Signature.email == email)
        return int(reader.scalar(query) or 0)


def test_a_signature_on_an_autocommit_connection_is_stored_before_the_block_ends(
    app: Flask,
) -> None:
    campaign_id = public_campaign(app)
    kicks: list[int] = []
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        with get_db().autocommit() as connection:
            result = sign(
                connection, campaign, _supporter(1), source="s", burst=None,
                kicker=lambda: kicks.append(1), only_open=True,
            )  # fmt: skip
            # Another connection sees it already: nothing waits for a COMMIT.
            assert _stored("s1@example.org") == 1
            # The mail is asked for at once, since the row is stored at once.
            assert kicks == [1]
        assert result.outcome == "new"


def test_sign_refuses_a_connection_whose_work_could_be_rolled_back(app: Flask) -> None:
    campaign_id = public_campaign(app)
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        with get_db().engine.connect() as connection, pytest.raises(ValueError, match="autocommit"):
            sign(connection, campaign, _supporter(2), source="s", burst=None, kicker=lambda: None)
        assert _stored("s2@example.org") == 0


def test_on_sqlite_the_autocommit_connections_never_switch_mode(app: Flask) -> None:
    """On SQLite, switching a connection in and out of autocommit runs PRAGMA read_uncommitted,
    which expires every statement the connection had prepared. The statements SQLite receives
    over a few signatures hold no such switch. On PostgreSQL, the autocommit connections are
    the same pool's (no second set of server connections)."""
    campaign_id = public_campaign(app)
    with app.app_context():
        db = get_db()
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        if not db.is_sqlite:
            assert db.autocommit_engine.pool is db.engine.pool
            return
        received: list[str] = []
        with db.autocommit() as connection:
            raw: Any = connection.connection.dbapi_connection
            raw.set_trace_callback(received.append)
        try:
            for n in range(3, 8):
                with db.autocommit() as connection:
                    sign(connection, campaign, _supporter(n), source="s", burst=None,
                         kicker=lambda: None)  # fmt: skip
        finally:
            raw.set_trace_callback(None)
    inserts = [sql for sql in received if sql.startswith("INSERT INTO signatures")]
    assert len(inserts) == 5  # the same pooled connection took every signature
    assert not [sql for sql in received if "PRAGMA" in sql.upper() or sql.startswith("BEGIN")]
