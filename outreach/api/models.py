"""Per-user API tokens (only a SHA-256 of each token is stored, with a short prefix to find it),
and outgoing webhooks: subscriptions and the deliveries of their events."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contacts.base import Base, utcnow
from outreach.accounts.models import User


class Scope(enum.StrEnum):
    READ = "read"  # GET only
    WRITE = "write"  # every method, within what the user's role allows


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The public part of the token (`otk_<prefix>_<secret>`): finds the row, and tells staff which
    # token a line of a log or a leak is about without revealing the secret.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # SHA-256 of the whole token. A token has 256 random bits, so a plain fast hash is enough
    # (argon2 protects low-entropy passwords; it would only slow every API request down).
    token_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(8), default=Scope.READ.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(320))

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class WebhookState(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # the subscriber answered 2xx
    FAILED = "failed"  # every attempt failed; kept for staff to see


class WebhookSubscription(Base):
    """A URL that receives the events it subscribed to, each POST signed with its secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Kept in clear: it signs every delivery (HMAC), as the receiver checks it.
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one subscriber: the body as sent, and every attempt's outcome so far."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # An event about one thing reaches a subscriber once, however often its origin runs.
        UniqueConstraint("subscription_id", "key", name="uq_webhook_deliveries_subscription_key"),
        Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100))  # e.g. "delivery.sent:1234"
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default=WebhookState.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    # None: never handed to the queue (emitted where no job can be deferred); the sweep sends it.
    next_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
