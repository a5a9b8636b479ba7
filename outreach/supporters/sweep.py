"""The periodic pass over pending signatures, run by the reconciler's actor
(workers/maintenance.py) once per OUTREACH_RECONCILE_INTERVAL:

- one reminder, two days after the confirmation mail went out, while its link is still valid
  (the link of the first mail expires after 7 days; the reminder carries a new one);
- a confirmation mail whose job was lost (Redis restarted, enqueueing failed after commit) is
  queued again: requested more than 15 minutes ago and never handed to SMTP since. Only in the
  signature's first day, so that an address the relay always refuses is not retried for ever.

Each is a compare-and-set on the row before its job is deferred, so two passes (two workers)
never queue the same mail twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.jobs import SIGNATURE_MAIL, defer
from outreach.supporters.models import Signature, SignatureState

REMINDER_AFTER = timedelta(days=2)
LINK_LIFETIME = timedelta(days=7)
LOST_AFTER = timedelta(minutes=15)
RETRY_LOST_FOR = timedelta(days=1)


@dataclass(frozen=True)
class SweepReport:
    reminders: int = 0
    requeued: int = 0


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
                Signature.confirmation_requested_at <= now - LOST_AFTER,
                Signature.created_at > now - RETRY_LOST_FOR,
                or_(
                    Signature.confirmation_sent_at.is_(None),
                    and_(
                        Signature.confirmation_sent_at.is_not(None),
                        Signature.confirmation_sent_at < Signature.confirmation_requested_at,
                    ),
                ),
            )
            .values(confirmation_requested_at=now)
            .returning(Signature.id)
        )
    )
    for signature_id in lost:
        defer(session, SIGNATURE_MAIL, signature_id, "confirm")
    return SweepReport(reminders=len(reminders), requeued=len(lost))
