"""Campaigns, deliveries (one row per letter to one official) and the append-only event log."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contacts.base import Base, TimestampMixin, utcnow
from contacts.models import Contact
from outreach.campaigns.states import DeliveryState

if TYPE_CHECKING:
    from outreach.supporters.models import Signature

# A supporter's own letter to one of their MEPs (the mail-to-target mode, outreach.supporters.letters).
SUPPORTER_ROLE = "supporter"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    PAUSED = "paused"  # nothing new leaves; the letters not yet sent are `held`
    FINISHED = "finished"
    CANCELLED = "cancelled"


class Campaign(TimestampMixin, Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT.value, index=True)
    subject_template: Mapped[str] = mapped_column(Text)
    body_template: Mapped[str] = mapped_column(Text)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mail_from: Mapped[str | None] = mapped_column(String(320))
    # The language of subject_template/body_template; other languages are LetterVariant rows.
    default_language: Mapped[str] = mapped_column(String(8), default="en")
    # The signature block: [{"name": "Human Rights Coalition", "url": "https://…"}, ...]
    signatories: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # "individual": one personalised copy per official of the audience (the mail merge).
    # "joint": one message To `joint_to` (Cc `joint_cc`) with a joint salutation, plus an
    # individual copy, marked as a copy, to every other official of the audience.
    addressing: Mapped[str] = mapped_column(String(16), default="individual")
    joint_to: Mapped[list[int]] = mapped_column(JSON, default=list)
    joint_cc: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Pace of the drive (outreach.campaigns.pacing): spread the letters evenly over this many
    # hours (None: as fast as the domain limits allow), and send only in the office hours of each
    # recipient's country (Monday to Friday, 09:00 to 17:00 local time).
    pace_hours: Mapped[int | None]
    office_hours: Mapped[bool] = mapped_column(default=False)
    # Letters deferred by temporary failures are retried until this moment (UTC), then failed;
    # None: until they have had MAX_ATTEMPTS attempts (about a day).
    deadline: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    launched_at: Mapped[datetime | None]
    # The last check of every copy (outreach.letters.lint) staff ran: the fingerprint of what it
    # read (the letter, the sender, each recipient's id, address and last change), the digest of
    # its findings and their counts. Launch trusts it while the fingerprint still matches instead
    # of rendering every copy again (outreach.campaigns.services.launch).
    check_fingerprint: Mapped[str | None] = mapped_column(String(64))
    check_digest: Mapped[str | None] = mapped_column(String(16))
    check_errors: Mapped[int | None]
    check_warnings: Mapped[int | None]
    checked_at: Mapped[datetime | None]
    # A draft launched later by the maintenance sweep (outreach.campaigns.schedule): when, who
    # asked (the launch's actor), and the check digest whose warnings they confirmed. A launch
    # refused at that time leaves the draft unscheduled with the reason in `schedule_error`.
    scheduled_at: Mapped[datetime | None] = mapped_column(index=True)
    scheduled_by: Mapped[str | None] = mapped_column(String(100))
    scheduled_digest: Mapped[str | None] = mapped_column(String(16))
    schedule_error: Mapped[str | None] = mapped_column(Text)
    # The last test copy a staff member received (the workspace's "Test send" step).
    test_sent_at: Mapped[datetime | None]
    # The public campaign page (outreach.web.public) at /c/<slug>: shown while a slug is set; the
    # signing form only while signing is open. `cosigner_display` is what the letter may show of
    # the confirmed signatures (outreach.supporters.models.CosignerDisplay).
    slug: Mapped[str | None] = mapped_column(String(80), unique=True)
    signing_open: Mapped[bool] = mapped_column(default=False)
    signature_goal: Mapped[int | None]
    cosigner_display: Mapped[str] = mapped_column(String(8), default="none")
    privacy_notice: Mapped[str | None] = mapped_column(Text)
    # "Write to your MEPs" (outreach.supporters.letters): each confirmed supporter sends their own
    # copy to the MEPs of their country (of these committees' members only, when any are named),
    # with their own words in `{{ supporter.message }}` (suggested text, at most this many
    # characters); at most `supporter_daily_cap` supporter letters per MEP per day (None: no cap).
    supporter_letters: Mapped[bool] = mapped_column(default=False)
    supporter_committees: Mapped[list[str]] = mapped_column(JSON, default=list)
    supporter_daily_cap: Mapped[int | None]
    supporter_message: Mapped[str | None] = mapped_column(Text)
    supporter_message_max: Mapped[int] = mapped_column(default=1500)
    # A follow-up (outreach.followups): a campaign of its own whose letters go, in the same
    # thread, to the recipients of `parent_id` who have not replied `followup_days` days after
    # their letter was sent. Scheduled (`followup_scheduled_at`) by staff; sent by the sweep.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    followup_days: Mapped[int | None]
    followup_scheduled_at: Mapped[datetime | None]

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="campaign", lazy="raise_on_sql"
    )
    variants: Mapped[list[LetterVariant]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="LetterVariant.language"
    )

    def letter_sources(self) -> dict[str, tuple[str, str]]:
        """{language: (subject template, body template)}, the default language first."""
        sources = {self.default_language: (self.subject_template, self.body_template)}
        for variant in self.variants:
            sources.setdefault(variant.language, (variant.subject_template, variant.body_template))
        return sources


class LetterVariant(Base):
    """The letter in one more language: chosen for recipients who read it."""

    __tablename__ = "letter_variants"
    __table_args__ = (
        UniqueConstraint("campaign_id", "language", name="uq_letter_variants_campaign_language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    subject_template: Mapped[str] = mapped_column(Text)
    body_template: Mapped[str] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship(back_populates="variants")


class Delivery(Base):
    """One letter of one campaign to one official. It exists before anything is enqueued."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # One staff letter per official and campaign; supporters' letters are one per (supporter,
        # official), and many supporters write to the same MEP.
        Index(
            "uq_deliveries_campaign_contact",
            "campaign_id",
            "contact_id",
            unique=True,
            sqlite_where=text("role <> 'supporter'"),
            postgresql_where=text("role <> 'supporter'"),
        ),
        Index("uq_deliveries_signature_contact", "signature_id", "contact_id", unique=True),
        # The per-MEP daily cap: a campaign's supporter letters to one MEP on one day.
        Index("ix_deliveries_campaign_contact_send_on", "campaign_id", "contact_id", "send_on"),
        Index("ix_deliveries_campaign_state", "campaign_id", "state"),
        # Progress: how many a campaign sent in the last minutes (its rate and estimated finish).
        Index("ix_deliveries_campaign_sent_at", "campaign_id", "sent_at"),
        # An official's page lists the letters written to them, and a campaign's page its letters
        # in order, a page at a time (without it PostgreSQL walked the primary key past every
        # other campaign's letters). Admin pages bench, issue 8.
        Index("ix_deliveries_contact_id", "contact_id"),
        Index("ix_deliveries_campaign_id_id", "campaign_id", "id"),
        # The pictures and the dashboard (outreach.reports) read these from the index alone.
        Index(
            "ix_deliveries_campaign_timeline",
            "campaign_id",
            "state",
            "created_at",
            "sent_at",
            "updated_at",
            "contact_id",
        ),
        Index("ix_deliveries_updated_state_sent", "updated_at", "state", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="RESTRICT"))
    # The address as it was when the delivery was made: later directory edits do not rewrite history.
    email: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    # Shared by the recipients of one joint message (To and Cc): replies and bounces carry it.
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # "individual" (a merge copy), "to" or "cc" (a recipient of the joint message), "copy" (an
    # individual copy of a joint letter, saying whom it was addressed to), "supporter" (a
    # supporter's own letter: `signature_id` names them, `send_on` is its day under the cap).
    role: Mapped[str] = mapped_column(String(12), default="individual")
    # The deliveries of one joint message share this key and are sent as one SMTP transaction.
    group_key: Mapped[str | None] = mapped_column(String(64), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_expires_at: Mapped[datetime | None]
    # The worker holding a queued letter (a random token per claim, until lease_expires_at), and
    # when it started the letter's SMTP transaction (the move to `sending`). A claim that expires
    # before dispatch means the letter never left: it is queued again, and after three such
    # abandoned claims (a letter that stops its worker every time) it fails.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    abandoned_claims: Mapped[int] = mapped_column(default=0)
    dispatched_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    last_smtp_code: Mapped[int | None]
    last_smtp_text: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Erasing the supporter keeps the delivery (what reached which MEP) without them.
    signature_id: Mapped[int | None] = mapped_column(
        ForeignKey("signatures.id", ondelete="SET NULL")
    )
    send_on: Mapped[date | None]
    # A follow-up letter's thread: the Message-ID of the letter it follows (In-Reply-To and
    # References of the message).
    in_reply_to: Mapped[str | None] = mapped_column(String(255))

    campaign: Mapped[Campaign] = relationship(back_populates="deliveries")
    contact: Mapped[Contact] = relationship()
    signature: Mapped[Signature | None] = relationship()
    events: Mapped[list[DeliveryEvent]] = relationship(
        back_populates="delivery", order_by="DeliveryEvent.id", lazy="raise_on_sql"
    )


class DeliveryEvent(Base):
    """One state change of a delivery: who, when, from, to, and the SMTP reply if any."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    smtp_code: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(Text)

    delivery: Mapped[Delivery] = relationship(back_populates="events")
