"""The audit log: who changed what, and when. Staff actions on directory, campaigns and accounts,
sign-ins and failed sign-ins, and staff actions on supporters' data (an export, an erasure).

Every row says who (`actor`, and `actor_id` for a user), when (`at`), what (`action`, e.g.
`campaign.launch`; `object_type` and `object_id`, e.g. `campaign`, `12`) and a short human
`summary`; `detail` holds counts where they matter (an import's, a launch's).

Personal data of supporters never goes in: an erasure must be provable later, but its record must
not bring back what was erased, so the detail holds counts and ids of rows that no longer exist,
never an address or a name. The same holds for every other row: summaries name staff, campaigns
and ids, not supporters (`outreach.web.audit_views` builds them for the console's requests).

Rows older than OUTREACH_AUDIT_RETENTION_DAYS are deleted by the workers' periodic pass
(`prune`), a batch of rows per transaction, so a first prune of years of rows never holds a long
lock on the table the console writes to on every change.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from sqlalchemy import Index, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contacts.base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_actor_id", "actor_id"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None]
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    summary: Mapped[str | None] = mapped_column(String(300))


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    detail: str = "",
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: object = None,
    summary: str = "",
) -> AuditEvent:
    """Add one event to the session (the caller commits, with the change it records)."""
    event = AuditEvent(
        actor=actor[:100],
        action=action[:40],
        detail=detail or None,
        at=utcnow(),
        actor_id=actor_id,
        object_type=(object_type or None) and object_type[:40],
        object_id=None if object_id is None else str(object_id)[:40],
        summary=(summary or None) and summary[:300],
    )
    session.add(event)
    return event


def user_actor(user: object) -> str:
    """How a staff member is named in events: `user:<id> <email>` (as delivery events do)."""
    return f"user:{getattr(user, 'id', '?')} {getattr(user, 'email', '')}"[:100]


def prune(
    transaction: Callable[[], AbstractContextManager[Session]],
    *,
    days: int,
    batch_size: int = 1000,
    now: datetime | None = None,
) -> int:
    """Delete the events older than `days` (0: keep every event), `batch_size` rows per
    transaction (`transaction` is `Database.transaction`); returns how many went."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    gone = 0
    while True:
        with transaction() as session:
            # The oldest first, by id through the index on `at`; a batch at a time.
            ids = list(
                session.scalars(
                    select(AuditEvent.id)
                    .where(AuditEvent.at < cutoff)
                    .order_by(AuditEvent.at)
                    .limit(batch_size)
                )
            )
            if ids:
                session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
        gone += len(ids)
        if len(ids) < batch_size:
            return gone
