"""Inbound messages: every message that came back, stored raw first, then what it was found to be.

One table holds both the raw message and its outcome (classification, match, bounce details, the
reply's text): a reply is an inbound message of kind `reply`, so the replies inbox (a later slice)
is a query on this table, and nothing has to be kept in step between two rows.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contacts.base import Base, utcnow


class InboundState(enum.StrEnum):
    NEW = "new"  # stored, waiting for (or retried by) the processing job
    PROCESSED = "processed"  # classified and matched, its effects applied
    UNMATCHED = "unmatched"  # classified, but no delivery (or supporter) found: staff assign it
    FAILED = "failed"  # processing raised; `error` says why, the row waits for review


class InboundKind(enum.StrEnum):
    HARD_BOUNCE = "hard_bounce"  # the address does not exist (user or domain unknown, moved)
    SOFT_BOUNCE = "soft_bounce"  # not delivered for another reason (mailbox full, blocked, expired)
    DELAY = "delay"  # a warning that delivery is still being tried: no failure yet
    AUTO_REPLY = "auto_reply"  # out of office, "this mailbox is not monitored", acknowledgements
    REPLY = "reply"  # written by a person
    UNSUBSCRIBE = "unsubscribe"  # mail to a supporter's `+u` unsubscribe address
    COMPLAINT = "complaint"  # an ARF feedback report (marked as spam)
    UNKNOWN = "unknown"


class ReceivedVia(enum.StrEnum):
    SMTP = "smtp"
    LMTP = "lmtp"
    IMAP = "imap"
    WEBHOOK = "webhook"
    DEV = "dev"  # the development capture server


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_state_received", "state", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The message's Message-ID, or `sha256:<digest>` of its content without trace headers when it
    # has none (or an unusable one), or `webhook:<event id>`. Unique: a redelivery is a no-op.
    message_key: Mapped[str] = mapped_column(String(255), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    via: Mapped[str] = mapped_column(String(16))
    envelope_from: Mapped[str | None] = mapped_column(String(320))
    envelope_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    state: Mapped[str] = mapped_column(String(16), default=InboundState.NEW.value)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None]

    kind: Mapped[str | None] = mapped_column(String(16), index=True)
    # Which signal decided the kind: "dsn", "flufl", "heuristic", "auto-submitted", "subject"...
    detected_by: Mapped[str | None] = mapped_column(String(32))
    from_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    # "verp", "returned-message-id", "reply-token", "in-reply-to" (how the delivery was found).
    matched_by: Mapped[str | None] = mapped_column(String(32))
    # A supporter's id from a verified `+u` token; no foreign key, the supporters table lives in
    # another package that acts on these rows.
    supporter_id: Mapped[int | None]
    # Why a match was refused (a forged token) or not found: shown to staff with unmatched rows.
    match_note: Mapped[str | None] = mapped_column(Text)

    bounce_address: Mapped[str | None] = mapped_column(String(320))
    bounce_status: Mapped[str | None] = mapped_column(String(16))  # enhanced status, e.g. 5.1.1
    bounce_smtp_code: Mapped[int | None]
    bounce_reason: Mapped[str | None] = mapped_column(String(32))  # userunknown, mailboxfull...
    bounce_diagnostic: Mapped[str | None] = mapped_column(Text)

    reply_text: Mapped[str | None] = mapped_column(Text)  # what the person wrote
    quoted_text: Mapped[str | None] = mapped_column(Text)  # the quoted letter below it, folded

    # Staff's triage in the replies inbox (outreach.followups.inbox): who last changed it, when.
    triage: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    triaged_by: Mapped[str | None] = mapped_column(String(320))
    triaged_at: Mapped[datetime | None]
    # An unmatched message staff assigned to a delivery by hand (matched_by "staff"): who, when.
    assigned_by: Mapped[str | None] = mapped_column(String(320))
    assigned_at: Mapped[datetime | None]


class Triage(enum.StrEnum):
    NEW = "new"
    READ = "read"
    FOLLOW_UP = "follow_up"  # needs follow-up
    DONE = "done"


class ReplyNote(Base):
    """A note staff wrote on an inbound message: who (their address, kept if the account goes),
    when, what. Append-only."""

    __tablename__ = "reply_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_message_id: Mapped[int] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[str] = mapped_column(Text)


class MepReplyAnswer(enum.StrEnum):
    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


class MepReplyQuestion(Base):
    """ "Did your MEP reply?" about one supporter's letter (a delivery of role `supporter`): when
    the supporter was asked (one mail per supporter covers all their letters), and their answer."""

    __tablename__ = "mep_reply_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True
    )
    signature_id: Mapped[int | None] = mapped_column(index=True)  # the mail's unit; no FK (erasure)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    asked_at: Mapped[datetime | None]  # when SMTP accepted the question
    answer: Mapped[str | None] = mapped_column(String(8))
    answered_at: Mapped[datetime | None]
