"""Storing an inbound message before anything else is done with it.

Every path (the SMTP/LMTP endpoint, the development capture server, the webhook) calls
`store_inbound`, which inserts the raw bytes under the message's key with INSERT ... ON CONFLICT
DO NOTHING: two deliveries of the same message, even at the same moment from two processes, make
one row, and the second is told it was a duplicate. The processing job is deferred to after the
commit, so a worker never looks for a row that is not there yet; if Redis loses the job, the
reconciler finds the row still `new` (see `stale_inbound_ids`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from flask import Flask
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.db import Database
from outreach.jobs import PROCESS_INBOUND, defer
from outreach.mail.identity import MessageIdentity
from outreach.mail.verp import DELIMITER
from outreach.settings import Settings
from outreach.tracking.models import InboundMessage, InboundState, ReceivedVia
from outreach.tracking.parse import address, message_key, parse

log = logging.getLogger(__name__)

STALE_NEW: Final = timedelta(minutes=5)


def store_inbound(
    session: Session,
    raw: bytes,
    *,
    via: ReceivedVia | str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
    key: str | None = None,
) -> int | None:
    """Keep one inbound message and defer its processing; the new row's id, or None when a
    message with the same key is already stored (a redelivery: nothing more is done)."""
    key = key or message_key(parse(raw), raw)
    values = {
        "message_key": key[:255],
        "raw": raw,
        "size": len(raw),
        "via": str(via),
        "envelope_from": (envelope_from or "")[:320] or None,
        "envelope_to": [a[:320] for a in envelope_to][:50],
        "received_at": utcnow(),
        "state": InboundState.NEW.value,
        "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(InboundMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["message_key"])
        .returning(InboundMessage.id)
    )
    row_id = session.execute(statement).scalar_one_or_none()
    if row_id is None:
        log.info("inbound message %s (%s) is already stored: ignored", key, via)
        return None
    defer(session, PROCESS_INBOUND, row_id)
    return int(row_id)


def stale_inbound_ids(session: Session, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Rows still `new` some minutes after they came (their job was lost): to enqueue again."""
    cutoff = (now or utcnow()) - STALE_NEW
    return list(
        session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.state == InboundState.NEW.value)
            .where(InboundMessage.received_at < cutoff)
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


class Intake:
    """The service's own inbound addresses and the door into the pipeline, for the servers that
    receive mail (the endpoint, the capture server): `accepts` says whether an address is ours
    (the bounce or reply base, with or without a token), `deliver` stores a message."""

    def __init__(self, db: Database, identity: MessageIdentity, max_bytes: int) -> None:
        self.db = db
        self.max_bytes = max_bytes
        bases = [identity.bounces, identity.unsubscribe_mailbox]
        if identity.replies is not None:
            bases.append(identity.replies)
        self._bases = {(b.username.lower(), b.domain.lower()) for b in bases}

    def accepts(self, recipient: str) -> bool:
        bare = address(recipient)
        local, _, domain = bare.rpartition("@")
        base = local.split(DELIMITER, 1)[0].lower()
        return bool(bare) and (base, domain.lower()) in self._bases

    def deliver(
        self, raw: bytes, envelope_from: str | None, recipients: Sequence[str], via: ReceivedVia
    ) -> int | None:
        with self.db.transaction() as session:
            return store_inbound(
                session, raw, via=via, envelope_from=envelope_from, envelope_to=list(recipients)
            )


def intake_for_app(app: Flask | None = None) -> Intake:
    """The intake of an app (built from the OUTREACH_* settings when none is given), for the
    processes that receive mail outside a request: the endpoint and the capture server."""
    if app is None:
        from outreach import create_app

        app = create_app()
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    return Intake(db, MessageIdentity.from_settings(settings), settings.inbound_max_bytes)
