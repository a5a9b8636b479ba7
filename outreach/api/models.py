"""Per-user API tokens: only a SHA-256 of each token is stored, with a short prefix to find it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
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
