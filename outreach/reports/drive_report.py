"""The printable report of a drive, for the coalition's partners: who was written to, who replied.

The lists are bounded: a drive of a few hundred officials (the reference case) is listed in full;
a larger one is summarised in the pictures and tables, and the page points to the CSV exports for
every name (`LIST_LIMIT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.models import Contact
from outreach.campaigns.models import Delivery
from outreach.tracking.models import InboundKind, InboundMessage

LIST_LIMIT = 2000
REPLY_LIMIT = 500


@dataclass(frozen=True)
class Recipient:
    name: str
    country: str | None
    group: str | None
    position: str | None
    state: str


@dataclass(frozen=True)
class Reply:
    received_at: datetime
    name: str
    country: str | None
    group: str | None
    subject: str | None
    text: str | None


def recipients(session: Session, campaign_id: int, limit: int = LIST_LIMIT) -> list[Recipient]:
    """The officials written to, by country then name (at most `limit`)."""
    rows = session.execute(
        select(
            Contact.display_name,
            Contact.country_code,
            Contact.political_group_short,
            Contact.position,
            Delivery.state,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id)
        .order_by(Contact.country_code, Contact.family_name, Contact.given_name, Delivery.id)
        .limit(limit)
    )
    return [Recipient(*r) for r in rows]


def replies(session: Session, campaign_id: int, limit: int = REPLY_LIMIT) -> list[Reply]:
    """The replies people wrote (auto-replies left out), oldest first (at most `limit`)."""
    rows = session.execute(
        select(
            InboundMessage.received_at,
            Contact.display_name,
            Contact.country_code,
            Contact.political_group_short,
            InboundMessage.subject,
            InboundMessage.reply_text,
        )
        .join(Delivery, Delivery.id == InboundMessage.delivery_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id, InboundMessage.kind == InboundKind.REPLY.value)
        .order_by(InboundMessage.received_at, InboundMessage.id)
        .limit(limit)
    )
    return [Reply(*r) for r in rows]
