"""What a classified, matched message does to a delivery and its contact.

- A bounce (hard or soft) means the letter did not arrive: the delivery goes from `sent` (or
  `uncertain`: the bounce proves it left) to `bounced`, with an event carrying the SMTP code and
  the reason. A delay warning changes nothing.
- A hard bounce of the contact's current primary address marks it `bouncing` at once: no letter
  is addressed to it again until staff correct it (Contact.sendable).
- A soft bounce scores the address as Mailman does: at most one point a day, the score starts
  again after `soft_bounce_stale_days` without one, and at `soft_bounce_threshold` the address is
  marked `bouncing`. One full mailbox does not lose an MEP; a week of them does.
- A reply makes the delivery `replied` (from sent, bounced or uncertain), and the contact's score
  starts again: someone reads that address. A reply to a follow-up letter also makes the letter
  it followed up `replied`.
Every state change is a compare-and-set on the states it may come from, with its event, so a
message processed twice (it cannot be, but a retried job could try) changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

import outreach.api.webhooks  # outgoing webhooks of this module's events
from contacts.models import Contact, ContactEmail, EmailStatus
from outreach.campaigns.models import Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState, check_transition, sources_of
from outreach.settings import Settings
from outreach.tracking.bounces import Failure

S = DeliveryState


def move(
    session: Session,
    delivery: Delivery,
    target: DeliveryState,
    *,
    actor: str,
    detail: str,
    smtp_code: int | None = None,
    now: datetime,
) -> bool:
    """Compare-and-set the delivery into `target`; an event when it moved. False when the
    delivery is in a state that cannot go there (already bounced, replied, never sent...)."""
    current = delivery.state
    if current not in sources_of(target):
        return False
    check_transition(current, target)
    moved = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.state == current)
        .values(state=target.value, updated_at=now)
        .returning(Delivery.id)
    ).scalar_one_or_none()
    if moved is None:
        return False
    session.execute(
        insert(DeliveryEvent).values(
            delivery_id=delivery.id, at=now, from_state=current, to_state=target.value,
            actor=actor, smtp_code=smtp_code, detail=detail[:2000],
        )
    )  # fmt: skip
    outreach.api.webhooks.emit(session, f"delivery.{target.value}", {"delivery_id": delivery.id})
    session.expire(delivery)
    return True


def bounce_detail(failure: Failure, hard: bool) -> str:
    kind = "hard" if hard else "soft"
    status = f" {failure.status}" if failure.status else ""
    words = " ".join(failure.diagnostic.split())[:300]
    return (
        f"{kind} bounce ({failure.reason}{status}): {words}"
        if words
        else f"{kind} bounce ({failure.reason}{status})"
    )


def apply_bounce(
    session: Session,
    delivery: Delivery,
    failure: Failure,
    *,
    hard: bool,
    actor: str,
    settings: Settings,
    now: datetime,
) -> None:
    move(
        session, delivery, S.BOUNCED, actor=actor, detail=bounce_detail(failure, hard),
        smtp_code=failure.smtp_code, now=now,
    )  # fmt: skip
    contact = session.get(Contact, delivery.contact_id)
    if contact is None:
        return
    if hard:
        mark_bouncing(session, contact, delivery.email)
    elif _is_primary(contact, delivery.email):
        score_soft_bounce(contact, now, settings)


def apply_reply(session: Session, delivery: Delivery, *, actor: str, now: datetime) -> None:
    move(session, delivery, S.REPLIED, actor=actor, detail="reply received", now=now)
    contact = session.get(Contact, delivery.contact_id)
    if contact is not None and _is_primary(contact, delivery.email):
        contact.bounce_score = 0.0
    if delivery.in_reply_to:
        # A reply to a follow-up (outreach.followups) answers the drive's letter too: the letter
        # of the same official in the thread the follow-up continued.
        parent = session.scalar(
            select(Delivery)
            .where(
                Delivery.message_id == delivery.in_reply_to,
                Delivery.contact_id == delivery.contact_id,
                Delivery.id != delivery.id,
            )
            .limit(1)
        )
        if parent is not None:
            move(session, parent, S.REPLIED, actor=actor, detail="reply to its follow-up", now=now)


def mark_bouncing(session: Session, contact: Contact, email: str) -> None:
    """The bounced address marked bad: the primary one, or the alternate it was."""
    if _is_primary(contact, email):
        contact.email_status = EmailStatus.BOUNCING.value
        return
    session.execute(
        update(ContactEmail)
        .where(ContactEmail.contact_id == contact.id, ContactEmail.address == email)
        .values(status=EmailStatus.BOUNCING.value)
    )


def score_soft_bounce(contact: Contact, now: datetime, settings: Settings) -> None:
    last = contact.last_bounce_at
    if last is not None and last.tzinfo is None:  # SQLite gives naive datetimes back
        last = last.replace(tzinfo=now.tzinfo)
    if last is not None and now - last > timedelta(days=settings.soft_bounce_stale_days):
        contact.bounce_score = 0.0
    # One point a day at most: a server that returns every letter of a drive is one bad day.
    if last is None or last.date() != now.date() or contact.bounce_score == 0.0:
        contact.bounce_score = (contact.bounce_score or 0.0) + 1.0
    contact.last_bounce_at = now
    if contact.bounce_score >= settings.soft_bounce_threshold:
        contact.email_status = EmailStatus.BOUNCING.value


def _is_primary(contact: Contact, email: str) -> bool:
    return (contact.email or "").lower() == email.lower()
