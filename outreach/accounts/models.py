"""Staff users of the admin console, their one-time links (invitations, password resets) and the
recovery codes of their second factor."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from contacts.base import Base, TimestampMixin, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    CAMPAIGNER = "campaigner"
    VIEWER = "viewer"


# An invited user has no password until they follow their link: no hash ever verifies against it.
NO_PASSWORD = ""


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.CAMPAIGNER.value)
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # The TOTP second factor (RFC 6238): the shared secret from enrolment on, encrypted under a
    # key derived from OUTREACH_SECRET_KEY (outreach.accounts.totp.seal: never the secret as
    # is); it counts only once confirmed with a code (`totp_enabled_at`). The last time step
    # accepted, so that a code once used cannot be used again (replay within its 30 s window).
    totp_secret: Mapped[str | None] = mapped_column(String(200))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None]
    password_changed_at: Mapped[datetime | None]

    @property
    def has_password(self) -> bool:
        return self.password_hash != NO_PASSWORD

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None and bool(self.totp_secret)

    @property
    def status(self) -> str:
        """active, invited (no password set yet) or deactivated."""
        if not self.active:
            return "deactivated"
        return "active" if self.has_password else "invited"

    # Flask-Login protocol, written out so that this model does not import Flask.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class LinkPurpose(enum.StrEnum):
    INVITE = "invite"
    RESET = "reset"


class AccountLink(Base):
    """A one-time link mailed to a user: an invitation or a password reset.

    The token itself is made by the mail actor when it sends the mail and only its SHA-256 is
    kept (`token_hash`): neither the database nor the job queue ever holds a usable link. A link
    works once (`used_at`), until `expires_at`, and only while it is the user's newest of its
    purpose (a new one voids the older: `voided_at`)."""

    __tablename__ = "account_links"
    __table_args__ = (Index("ix_account_links_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RecoveryCode(Base):
    """One single-use recovery code of a user's second factor, as its SHA-256 (the codes are
    random, 50 bits each: a slow hash would add nothing)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]
