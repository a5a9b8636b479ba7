"""Drives with known histories, written straight into the database, for the tests of the
dashboard, the pictures' queries, the delivery table and the exports.

Each `Letter` says to whom (country, group, committees) and what happened when; `seed` makes the
officials, a campaign and one delivery per letter with those states and timestamps, and returns
their ids. A reply can come with an inbound message of kind `reply`, as outreach.tracking stores
one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask

from contacts.base import utcnow
from contacts.models import Contact, Membership
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.extensions import get_db
from outreach.tracking.models import InboundMessage

T0 = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


@dataclass
class Letter:
    state: str
    country: str = "FR"
    group: str | None = "EPP"
    committees: tuple[str, ...] = ()
    sent_after: timedelta | None = None  # after T0; None: never sent
    changed_after: timedelta = timedelta(0)  # when the row reached its state, after T0
    name: str = ""
    reply_text: str | None = None
    email: str = ""
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class Seeded:
    campaign_id: int
    delivery_ids: list[int]
    contact_ids: list[int]


def seed(
    app: Flask,
    letters: list[Letter],
    *,
    name: str = "Press freedom",
    status: str = "sending",
    created: datetime = T0,
) -> Seeded:
    with app.app_context(), get_db().transaction() as session:
        campaign = Campaign(
            name=name, status=status, subject_template="S", body_template="B", audience={},
            launched_at=created, signatories=[{"name": "Coalition for Rights", "url": ""}],
        )  # fmt: skip
        session.add(campaign)
        session.flush()
        delivery_ids, contact_ids = [], []
        for i, letter in enumerate(letters):
            display = letter.name or f"Member {campaign.id}-{i}"
            email = letter.email or f"member{campaign.id}.{i}@europarl.example.org"
            contact = Contact(
                kind="mep", display_name=display, given_name="Member",
                family_name=f"{campaign.id}-{i:05d}", country_code=letter.country,
                political_group_short=letter.group, email=email, languages=["en"],
                position="Member of the European Parliament",
            )  # fmt: skip
            session.add(contact)
            session.flush()
            for acronym in letter.committees:
                session.add(
                    Membership(
                        contact_id=contact.id, acronym=acronym, body_kind="committee", role="member"
                    )
                )
            changed = created + letter.changed_after
            delivery = Delivery(
                campaign_id=campaign.id, contact_id=contact.id, email=email, state=letter.state,
                created_at=created, updated_at=changed,
                sent_at=created + letter.sent_after if letter.sent_after is not None else None,
                message_id=f"<m{campaign.id}.{i}@example.org>", **letter.extra,
            )  # fmt: skip
            session.add(delivery)
            session.flush()
            session.add(
                DeliveryEvent(
                    delivery_id=delivery.id,
                    at=changed,
                    from_state="queued",
                    to_state=letter.state,
                    actor="test",
                )
            )
            if letter.reply_text is not None:
                session.add(
                    InboundMessage(
                        message_key=f"<reply-{delivery.id}@example.org>",
                        raw=b"raw",
                        size=3,
                        via="dev",
                        received_at=changed,
                        state="processed",
                        kind="reply",
                        from_address=email,
                        subject=f"Re: letter {i}",
                        delivery_id=delivery.id,
                        matched_by="reply-token",
                        reply_text=letter.reply_text,
                    )
                )
            delivery_ids.append(delivery.id)
            contact_ids.append(contact.id)
        return Seeded(campaign.id, delivery_ids, contact_ids)


def add_signatures(
    app: Flask, campaign_id: int, rows: list[tuple[str, datetime, datetime | None]]
) -> None:
    """Signatures of the campaign: (state, created_at, confirmed_at) each."""
    from outreach.supporters.models import PrivacyNotice, Signature

    with app.app_context(), get_db().transaction() as session:
        if session.get(PrivacyNotice, "0" * 64) is None:
            session.add(PrivacyNotice(sha256="0" * 64, text="Notice"))
            session.flush()
        for i, (state, created, confirmed) in enumerate(rows):
            session.add(
                Signature(
                    campaign_id=campaign_id,
                    name=f"=Supporter {i}",
                    email=f"s{campaign_id}.{i}@example.net",
                    country="FR",
                    consent=True,
                    privacy_notice_sha256="0" * 64,
                    state=state,
                    ip_hash="x",
                    created_at=created,
                    confirmed_at=confirmed,
                )
            )
