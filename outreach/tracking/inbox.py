"""The replies inbox: what came back, for staff to read, triage, annotate and assign.

Services only (the views are outreach/web/replies.py): the list with its filters, a message with
the letter it answers, triage and notes (anyone signed in, viewers included: reading replies and
keeping track of them is their job), and the hand assignment of an unmatched message to a
delivery, which applies the same effects as an automatic match and is recorded on the message,
in the delivery's history and in a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.models import Campaign, Delivery
from outreach.settings import Settings
from outreach.tracking.bounces import Failure
from outreach.tracking.effects import apply_bounce, apply_reply
from outreach.tracking.models import (
    InboundKind,
    InboundMessage,
    InboundState,
    ReplyNote,
    Triage,
)

K = InboundKind
# The inbox's filters: which messages each shows.
FILTERS: dict[str, str] = {
    "replied": "Replies",
    "auto_reply": "Auto-replies",
    "bounced": "Bounces",
    "unmatched": "Unmatched",
    "all": "Everything",
}
BOUNCE_KINDS = (K.HARD_BOUNCE.value, K.SOFT_BOUNCE.value, K.DELAY.value, K.COMPLAINT.value)
TRIAGE_LABELS = {
    Triage.NEW.value: "new",
    Triage.READ.value: "read",
    Triage.FOLLOW_UP.value: "needs follow-up",
    Triage.DONE.value: "done",
}
MAX_NOTE = 4000


class InboxError(ValueError):
    """Input staff can correct: an unknown state, an empty note, an assignment refused."""


def inbox_query(
    *, filter_: str = "replied", campaign_id: int | None = None, triage: str | None = None
) -> Select[InboundMessage]:
    """The messages of one filter (newest first), of one campaign if given."""
    query = select(InboundMessage).order_by(
        InboundMessage.received_at.desc(), InboundMessage.id.desc()
    )
    if filter_ == "replied":
        query = query.where(InboundMessage.kind == K.REPLY.value)
    elif filter_ == "auto_reply":
        query = query.where(InboundMessage.kind == K.AUTO_REPLY.value)
    elif filter_ == "bounced":
        query = query.where(InboundMessage.kind.in_(BOUNCE_KINDS))
    elif filter_ == "unmatched":
        query = query.where(
            InboundMessage.state.in_([InboundState.UNMATCHED.value, InboundState.FAILED.value])
        )
    elif filter_ != "all":
        raise InboxError(f"unknown filter {filter_!r}")
    if campaign_id is not None:
        query = query.join(Delivery, Delivery.id == InboundMessage.delivery_id).where(
            Delivery.campaign_id == campaign_id
        )
    if triage:
        if triage not in TRIAGE_LABELS:
            raise InboxError(f"unknown triage state {triage!r}")
        query = query.where(InboundMessage.triage == triage)
    return query


def filter_counts(session: Session, campaign_id: int | None = None) -> dict[str, int]:
    return {
        name: session.scalar(
            select(func.count()).select_from(
                inbox_query(filter_=name, campaign_id=campaign_id).subquery()
            )
        )
        or 0
        for name in FILTERS
    }


@dataclass(frozen=True)
class MessageView:
    message: InboundMessage
    delivery: Delivery | None
    notes: list[ReplyNote]


def message_view(session: Session, message_id: int) -> MessageView | None:
    message = session.get(InboundMessage, message_id)
    if message is None:
        return None
    delivery = None
    if message.delivery_id is not None:
        delivery = session.scalar(
            select(Delivery)
            .options(joinedload(Delivery.contact), joinedload(Delivery.campaign))
            .where(Delivery.id == message.delivery_id)
        )
    notes = list(
        session.scalars(
            select(ReplyNote)
            .where(ReplyNote.inbound_message_id == message_id)
            .order_by(ReplyNote.id)
        )
    )
    return MessageView(message, delivery, notes)


def mark_read(session: Session, message: InboundMessage, *, actor: str) -> None:
    """Opening a new message marks it read (the only automatic triage change)."""
    if message.triage == Triage.NEW.value:
        set_triage(session, message, Triage.READ.value, actor=actor)


def set_triage(session: Session, message: InboundMessage, state: str, *, actor: str) -> None:
    if state not in TRIAGE_LABELS:
        raise InboxError(f"unknown triage state {state!r}")
    message.triage = state
    message.triaged_by = actor[:320]
    message.triaged_at = utcnow()


def add_note(session: Session, message: InboundMessage, body: str, *, author: str) -> ReplyNote:
    text = body.strip()
    if not text:
        raise InboxError("the note is empty")
    if len(text) > MAX_NOTE:
        raise InboxError(f"a note has at most {MAX_NOTE} characters")
    note = ReplyNote(inbound_message_id=message.id, author=author[:320], body=text, at=utcnow())
    session.add(note)
    return note


# --- assignment of unmatched mail ----------------------------------------------------------------
def search_deliveries(session: Session, text: str, limit: int = 25) -> list[Delivery]:
    """Sent letters whose recipient's address or name, or whose campaign's name, has `text`."""
    words = text.strip()
    if len(words) < 2:
        return []
    like = f"%{words.lower()}%"
    return list(
        session.scalars(
            select(Delivery)
            .join(Contact, Contact.id == Delivery.contact_id)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .options(joinedload(Delivery.contact), joinedload(Delivery.campaign))
            .where(Delivery.message_id.is_not(None))
            .where(
                or_(
                    func.lower(Delivery.email).like(like),
                    func.lower(Contact.display_name).like(like),
                    func.lower(Campaign.name).like(like),
                )
            )
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )


def assign(
    session: Session,
    message: InboundMessage,
    delivery: Delivery,
    *,
    actor: str,
    settings: Settings,
    now: datetime | None = None,
) -> str:
    """Give an unmatched message its delivery by hand, with the effects an automatic match has:
    a reply makes the letter replied, a hard or soft bounce bounces it (and marks or scores the
    address); an auto-reply or a delay warning is only linked. Staff's word settles what an
    unclassified message is: a reply. Returns what was done, also kept as a note."""
    if message.state not in (InboundState.UNMATCHED.value, InboundState.FAILED.value):
        raise InboxError("only an unmatched message can be assigned by hand")
    now = now or utcnow()
    kind = message.kind or K.UNKNOWN.value
    if kind == K.UNKNOWN.value:
        kind = K.REPLY.value
    who = f"staff:{actor}"
    if kind == K.REPLY.value:
        apply_reply(session, delivery, actor=who, now=now)
        done = "assigned as a reply: the letter is replied"
    elif kind in (K.HARD_BOUNCE.value, K.SOFT_BOUNCE.value):
        hard = kind == K.HARD_BOUNCE.value
        failure = Failure(
            address=message.bounce_address or delivery.email, action="failed",
            status=message.bounce_status, smtp_code=message.bounce_smtp_code,
            diagnostic=message.bounce_diagnostic or "", reason=message.bounce_reason or "unknown",
            hard=hard,
        )  # fmt: skip
        apply_bounce(session, delivery, failure, hard=hard, actor=who, settings=settings, now=now)
        done = f"assigned as a {'hard' if hard else 'soft'} bounce: the letter is bounced"
    else:
        done = f"assigned ({kind.replace('_', ' ')}: linked, the letter's state unchanged)"
    message.kind = kind
    message.delivery_id = delivery.id
    message.matched_by = "staff"
    message.state = InboundState.PROCESSED.value
    message.processed_at = message.processed_at or now
    message.error = None
    message.assigned_by = actor[:320]
    message.assigned_at = now
    session.add(
        ReplyNote(
            inbound_message_id=message.id, author=actor[:320], at=now,
            body=f"{done} (delivery {delivery.id} to {delivery.email}).",
        )
    )  # fmt: skip
    return done


# --- per campaign: who replied ------------------------------------------------------------------
@dataclass(frozen=True)
class Replier:
    delivery_id: int
    name: str
    email: str
    group: str
    country: str
    replied_at: datetime | None
    message_id: int | None  # the reply in the inbox


REPLIERS_SHOWN = 1000


def replied_count(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.state == "replied")
        )
        or 0
    )


def who_replied(
    session: Session, campaign_id: int, *, limit: int = REPLIERS_SHOWN
) -> list[Replier]:
    """The recipients of a campaign whose letter is replied, with group and country, and the
    first reply of each (by when it came): the first `limit` by country, group and name (the
    delivery table lists them all). Only the columns shown are read, and only this campaign's
    replies are grouped."""
    first_reply = (
        select(
            InboundMessage.delivery_id.label("delivery_id"),
            func.min(InboundMessage.id).label("message_id"),
            func.min(InboundMessage.received_at).label("received_at"),
        )
        .join(Delivery, Delivery.id == InboundMessage.delivery_id)
        .where(Delivery.campaign_id == campaign_id, InboundMessage.kind == K.REPLY.value)
        .group_by(InboundMessage.delivery_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Delivery.id,
            Contact.display_name,
            Delivery.email,
            func.coalesce(
                func.nullif(Contact.political_group_short, ""), Contact.political_group, ""
            ),
            func.coalesce(Contact.country_code, ""),
            first_reply.c.received_at,
            first_reply.c.message_id,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .outerjoin(first_reply, first_reply.c.delivery_id == Delivery.id)
        .where(Delivery.campaign_id == campaign_id, Delivery.state == "replied")
        .order_by(Contact.country_code, Contact.political_group_short, Contact.display_name)
        .limit(limit)
    ).all()
    return [Replier(*row) for row in rows]


def campaigns_with_mail(session: Session) -> Sequence[Campaign]:
    """Campaigns for the inbox's campaign picker: those with at least one matched message."""
    ids = select(Delivery.campaign_id).join(
        InboundMessage, InboundMessage.delivery_id == Delivery.id
    )
    return list(
        session.scalars(select(Campaign).where(Campaign.id.in_(ids)).order_by(Campaign.id.desc()))
    )
