"""Supporters' signatures of a campaign's letter, and the privacy notices they consented to.

A signature is one row per (campaign, e-mail address): signing again never makes a second one.
It counts, and its name may appear under the letter, only once it is `confirmed` (double opt-in).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from contacts.base import Base, utcnow


class SignatureState(enum.StrEnum):
    PENDING = "pending"  # waiting for the click in the confirmation e-mail
    CONFIRMED = "confirmed"  # counts, and appears if the supporter agreed to be named
    HELD = "held"  # part of a burst from one source: waits for staff, counts for nothing
    REJECTED = "rejected"  # staff judged a held signature not genuine; kept so it is not re-added
    WITHDRAWN = "withdrawn"  # the supporter took their name back


class CosignerDisplay(enum.StrEnum):
    """What a campaign's letter may show of its co-signers (`cosigners.count`, `.names`)."""

    NONE = "none"
    COUNT = "count"
    NAMES = "names"
    BOTH = "both"


class PrivacyNotice(Base):
    """Every privacy-notice text a supporter consented to, by its SHA-256: a signature stores the
    hash, so the exact words agreed to can be shown later even after staff edit the notice."""

    __tablename__ = "privacy_notices"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[datetime] = mapped_column(default=utcnow)


_WAITING = "confirmation_requested_at IS NOT NULL AND confirmation_claimed_at IS NULL"


class Signature(Base):
    __tablename__ = "signatures"
    __table_args__ = (
        UniqueConstraint("campaign_id", "email", name="uq_signatures_campaign_email"),
        # The public counter: confirmed signatures of one campaign.
        Index("ix_signatures_campaign_state", "campaign_id", "state"),
        # Burst detection: a campaign's recent signatures from one source.
        Index("ix_signatures_campaign_ip_created", "campaign_id", "ip_hash", "created_at"),
        # A supporter's data across campaigns (export and erasure ask by address).
        Index("ix_signatures_email", "email"),
        # The outbox: confirmation mails asked for and not yet claimed by a worker's sweep
        # (outreach.supporters.outbox). Partial, so the sweep of every second reads only them.
        Index(
            "ix_signatures_outbox",
            "id",
            sqlite_where=text(_WAITING),
            postgresql_where=text(_WAITING),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # Lower-cased after email-validator's normalisation: people type their address with varying
    # case, and one person must not sign twice because of it.
    email: Mapped[str] = mapped_column(String(320))
    country: Mapped[str] = mapped_column(String(2))
    organisation: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    # The page language when they signed: their confirmation and reminder are written in it.
    language: Mapped[str] = mapped_column(String(8), default="en")
    consent: Mapped[bool] = mapped_column(default=False)
    privacy_notice_sha256: Mapped[str] = mapped_column(
        ForeignKey("privacy_notices.sha256", ondelete="RESTRICT")
    )
    # Campaign updates are a separate consent from the signature itself.
    updates_opt_in: Mapped[bool] = mapped_column(default=False)
    # Only names of those who agreed appear under the letter and on the public page.
    named: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(12), default=SignatureState.PENDING.value)
    # A keyed hash (HMAC with the secret key) of the source address: enough to see a burst from
    # one source, without keeping the IP address itself.
    ip_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None]
    # When a confirmation mail was last asked for (limits re-sending to once an hour), when a
    # worker's sweep claimed it for sending (NULL while it waits: the row is the mail's outbox,
    # see outreach.supporters.outbox), and when the worker last handed one to SMTP.
    confirmation_requested_at: Mapped[datetime | None]
    confirmation_claimed_at: Mapped[datetime | None]
    confirmation_sent_at: Mapped[datetime | None]
    reminder_sent_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    # Write to your MEPs: the supporter's own words, plain text (`{{ supporter.message }}`).
    letter_message: Mapped[str | None] = mapped_column(Text)
    # Withdrawn: the name leaves the letter and unsent letters are cancelled. Unsubscribed (RFC
    # 8058 one-click, or the page): no more reminders or updates; the signature still counts.
    withdrawn_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
