"""The rows of the CSV exports, read in chunks so that an export of 100,000 letters never sits in
memory whole: `yield_per` makes SQLAlchemy fetch 1,000 rows at a time (a server-side cursor on
PostgreSQL). Values come out as they are stored; the web layer writes them through
`contacts.export.neutralise` (formula cells).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from contacts.models import Contact
from outreach.campaigns.models import Delivery
from outreach.reports.deliveries import DeliveryFilter, conditions
from outreach.supporters.models import Signature
from outreach.tracking.models import InboundKind, InboundMessage

CHUNK = 1000

DELIVERY_COLUMNS = (
    "delivery_id", "contact_id", "name", "country", "political_group", "email", "role", "state",
    "attempts", "last_smtp_code", "last_smtp_text", "sent_at", "updated_at", "message_id",
)  # fmt: skip
REPLY_COLUMNS = (
    "reply_id", "received_at", "delivery_id", "contact_id", "name", "country", "political_group",
    "from_address", "subject", "reply_text",
)  # fmt: skip
SUPPORTER_COLUMNS = (
    "id", "name", "email", "country", "organisation", "comment", "state", "named",
    "updates_opt_in", "language", "created_at", "confirmed_at",
)  # fmt: skip


def _stream(session: Session | Connection, stmt: Any) -> Iterator[Sequence[Any]]:
    result = session.execute(stmt.execution_options(yield_per=CHUNK))
    try:
        for row in result:
            yield tuple(row)
    finally:
        # A download stopped half-way must give its (server-side) cursor back too.
        result.close()


def delivery_rows(
    session: Session | Connection, campaign_id: int, f: DeliveryFilter | None = None
) -> Iterator[Sequence[Any]]:
    """Every letter of the campaign (of the filter, if given), by id."""
    stmt = (
        select(
            Delivery.id,
            Delivery.contact_id,
            Contact.display_name,
            Contact.country_code,
            Contact.political_group_short,
            Delivery.email,
            Delivery.role,
            Delivery.state,
            Delivery.attempts,
            Delivery.last_smtp_code,
            Delivery.last_smtp_text,
            Delivery.sent_at,
            Delivery.updated_at,
            Delivery.message_id,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(*conditions(campaign_id, f or DeliveryFilter()))
        .order_by(Delivery.id)
    )
    return _stream(session, stmt)


def reply_rows(session: Session | Connection, campaign_id: int) -> Iterator[Sequence[Any]]:
    """Every reply matched to a letter of the campaign (written by a person: kind `reply`)."""
    stmt = (
        select(
            InboundMessage.id,
            InboundMessage.received_at,
            Delivery.id,
            Contact.id,
            Contact.display_name,
            Contact.country_code,
            Contact.political_group_short,
            InboundMessage.from_address,
            InboundMessage.subject,
            InboundMessage.reply_text,
        )
        .join(Delivery, Delivery.id == InboundMessage.delivery_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id, InboundMessage.kind == InboundKind.REPLY.value)
        .order_by(InboundMessage.received_at, InboundMessage.id)
    )
    return _stream(session, stmt)


def supporter_rows(session: Session | Connection, campaign_id: int) -> Iterator[Sequence[Any]]:
    """Every signature of the campaign, by id (personal data: the caller checks the role)."""
    columns = [getattr(Signature, c) for c in SUPPORTER_COLUMNS]
    stmt = select(*columns).where(Signature.campaign_id == campaign_id).order_by(Signature.id)
    return _stream(session, stmt)
