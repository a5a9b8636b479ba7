"""The audit log: staff actions on personal data (an export, an erasure) recorded without the data
itself. An erasure must be provable later, but its record must not bring back what was erased, so
the detail holds counts and ids of rows that no longer exist, never an address or a name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from contacts.base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)


def record(session: Session, *, actor: str, action: str, detail: str = "") -> AuditEvent:
    event = AuditEvent(actor=actor[:100], action=action[:40], detail=detail or None, at=utcnow())
    session.add(event)
    return event
