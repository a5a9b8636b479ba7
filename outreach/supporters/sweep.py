"""The periodic pass over pending signatures, run by the reconciler's actor
(workers/maintenance.py) once per OUTREACH_RECONCILE_INTERVAL:

- one reminder, two days after the confirmation mail went out, while its link is still valid
  (the link of the first mail expires after 7 days; the reminder carries a new one);
- a confirmation mail whose job was lost (Redis restarted after the claim) is given back to the
  outbox: claimed more than 15 minutes ago and never handed to SMTP since. Only in the
  signature's first day, so that an address the relay always refuses is not retried for ever;
- the outbox itself (outreach.supporters.outbox): confirmations asked for and not claimed yet,
  whatever happened to the kick that should have swept them (Redis down while signing).

Each is a compare-and-set on the row before its job is deferred, so two passes (two workers)
never queue the same mail twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.jobs import SIGNATURE_MAIL, defer
from outreach.supporters.models import Signature, SignatureState
from outreach.supporters.outbox import claim_confirmations

REMINDER_AFTER = timedelta(days=2)
LINK_LIFETIME = timedelta(days=7)
LOST_AFTER = timedelta(minutes=15)
RETRY_LOST_FOR = timedelta(days=1)


@dataclass(frozen=True)
class SweepReport:
    reminders: int = 0
    requeued: int = 0  # lost claims given back to the outbox
    mailed: int = 0  # confirmations claimed from the outbox (their jobs deferred)


def sweep_signatures(session: Session, *, now: datetime | None = None) -> SweepReport:
    """One pass (the caller commits; the jobs are enqueued after the commit)."""
    now = now or utcnow()
    pending = Signature.state == SignatureState.PENDING.value
    reminders = list(
        session.scalars(
            update(Signature)
            .where(
                pending,
                Signature.reminder_sent_at.is_(None),
                Signature.unsubscribed_at.is_(None),
                Signature.confirmation_sent_at <= now - REMINDER_AFTER,
                Signature.confirmation_sent_at > now - LINK_LIFETIME,
            )
            # Marked now: the reminder is the worker's job from here on, and is sent once.
            .values(reminder_sent_at=now)
            .returning(Signature.id)
        )
    )
    for signature_id in reminders:
        defer(session, SIGNATURE_MAIL, signature_id, "reminder")
    lost = list(
        session.scalars(
            update(Signature)
            .where(
                pending,
                Signature.confirmation_claimed_at <= now - LOST_AFTER,
                Signature.created_at > now - RETRY_LOST_FOR,
                or_(
                    Signature.confirmation_sent_at.is_(None),
                    Signature.confirmation_sent_at < Signature.confirmation_claimed_at,
                ),
            )
            .values(confirmation_claimed_at=None)
            .returning(Signature.id)
        )
    )
    mailed = claim_confirmations(session, now=now)
    return SweepReport(reminders=len(reminders), requeued=len(lost), mailed=len(mailed))
