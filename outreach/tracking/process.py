"""Processing one stored inbound message: classify, match, apply, record.

`process_inbound` runs in one transaction. It first takes the row with a compare-and-set from
`new` (on PostgreSQL the row stays locked until the commit, so a second job for the same message
waits, then finds it taken and does nothing), then classifies, matches and applies the effects,
and writes the outcome on the row. If anything raises, the transaction is rolled back (no half
applied effect) and `record_failure` keeps the row as `failed` with the error, in a transaction of
its own: the message waits for review and the next one is processed as usual.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.db import Database
from outreach.mail.identity import MessageIdentity
from outreach.settings import Settings
from outreach.supporters.rights import unsubscribe
from outreach.tracking.bounces import Failure
from outreach.tracking.classify import Classification, classify
from outreach.tracking.effects import apply_bounce, apply_reply
from outreach.tracking.matching import Match, Matcher, recipient_addresses
from outreach.tracking.models import InboundKind, InboundMessage, InboundState
from outreach.tracking.parse import parse

log = logging.getLogger(__name__)

K = InboundKind
BOUNCES = {K.HARD_BOUNCE, K.SOFT_BOUNCE, K.DELAY}


@dataclass(frozen=True)
class Outcome:
    message_id: int
    state: str
    kind: str | None
    delivery_id: int | None


def process_inbound(
    session: Session, message_id: int, identity: MessageIdentity, settings: Settings
) -> Outcome | None:
    """Process one stored message; None when it is not `new` (processed already, or by another
    worker right now). Raises on an unexpected error: the caller rolls back and records it."""
    taken = session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == message_id, InboundMessage.state == InboundState.NEW.value)
        .values(attempts=InboundMessage.attempts + 1)
        .returning(InboundMessage.id)
    ).scalar_one_or_none()
    if taken is None:
        return None
    row = session.get(InboundMessage, message_id)
    assert row is not None
    now = utcnow()
    msg = parse(row.raw)
    found = classify(msg)
    recipients = recipient_addresses(msg, row.envelope_to)
    matcher = Matcher(session, identity)
    actor = f"inbound:{row.id}"

    match = Match()
    kind = found.kind
    if kind in BOUNCES:
        failed = [f.address for f in found.bounce.failures]
        match = matcher.bounce(recipients, found.bounce.returned_message_ids, failed)
    elif kind == K.COMPLAINT:
        match = matcher.bounce(recipients, found.bounce.returned_message_ids, [])
    else:
        matcher.unsubscribe(recipients, match)
        if match.supporter_id is not None:
            kind = K.UNSUBSCRIBE
        else:
            reply_match = matcher.reply(recipients, found.in_reply_to, found.from_address)
            reply_match.notes = match.notes + reply_match.notes
            match = reply_match

    _record(row, found, kind, match)
    delivery = match.delivery
    if delivery is not None and kind in {K.HARD_BOUNCE, K.SOFT_BOUNCE}:
        failure = _failure_of(found, delivery.email)
        apply_bounce(
            session, delivery, failure, hard=kind == K.HARD_BOUNCE, actor=actor,
            settings=settings, now=now,
        )  # fmt: skip
    elif delivery is not None and kind == K.REPLY:
        apply_reply(session, delivery, actor=actor, now=now)
    elif kind == K.UNSUBSCRIBE and match.supporter_id is not None:
        # The mailto of List-Unsubscribe: the same effect as the one-click link.
        unsubscribe(session, match.supporter_id, now=now)

    matched = delivery is not None or match.supporter_id is not None
    row.state = (InboundState.PROCESSED if matched else InboundState.UNMATCHED).value
    row.processed_at = now
    row.error = None
    log.info(
        "inbound %s: %s, %s", row.id, kind, f"delivery {row.delivery_id}" if delivery else row.state
    )
    return Outcome(row.id, row.state, row.kind, row.delivery_id)


def _failure_of(found: Classification, email: str) -> Failure:
    """The failure about this address (a report can list several), else the first final one."""
    final = found.bounce.final or found.bounce.failures
    for failure in final:
        if failure.address.lower() == email.lower():
            return failure
    return final[0]


def _record(row: InboundMessage, found: Classification, kind: InboundKind, match: Match) -> None:
    row.kind = kind.value
    row.detected_by = found.detected_by[:32] or None
    row.from_address = found.from_address[:320] or None
    row.subject = found.subject or None
    row.delivery_id = match.delivery.id if match.delivery is not None else None
    row.matched_by = match.matched_by
    row.supporter_id = match.supporter_id
    row.match_note = "\n".join(match.notes) or None
    if kind in BOUNCES and found.bounce.failures:
        email = match.delivery.email if match.delivery is not None else ""
        failure = _failure_of(found, email)
        row.bounce_address = failure.address[:320] or None
        row.bounce_status = failure.status
        row.bounce_smtp_code = failure.smtp_code
        row.bounce_reason = failure.reason
        row.bounce_diagnostic = failure.diagnostic or None
    if kind in {K.REPLY, K.AUTO_REPLY, K.UNKNOWN, K.UNSUBSCRIBE}:
        row.reply_text = found.reply_text or None
        row.quoted_text = found.quoted_text or None


def handle_inbound(
    db: Database, message_id: int, identity: MessageIdentity, settings: Settings
) -> Outcome | None:
    """Process one message in its own transaction; on any error, roll it back and keep the
    message as `failed` with the error. Never raises for a message (what the actor runs)."""
    try:
        with db.transaction() as session:
            return process_inbound(session, message_id, identity, settings)
    except Exception as exc:
        log.exception("inbound message %s could not be processed; kept as failed", message_id)
        with db.transaction() as session:
            record_failure(session, message_id, exc)
        return None


def record_failure(session: Session, message_id: int, error: BaseException) -> None:
    """Keep a message whose processing raised as `failed`, with the error, for review."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == message_id, InboundMessage.state == InboundState.NEW.value)
        .values(
            state=InboundState.FAILED.value,
            error=text[:4000],
            attempts=InboundMessage.attempts + 1,
            processed_at=utcnow(),
        )
    )


def reprocess(session: Session, message_id: int) -> bool:
    """Staff's retry of a failed (or unmatched) message: back to `new`; the caller defers it."""
    moved = session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.id == message_id,
            InboundMessage.state.in_([InboundState.FAILED.value, InboundState.UNMATCHED.value]),
        )
        .values(state=InboundState.NEW.value, error=None)
        .returning(InboundMessage.id)
    ).scalar_one_or_none()
    return moved is not None
