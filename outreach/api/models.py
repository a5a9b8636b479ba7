"""Per-user API tokens (only a SHA-256 of each token is stored, with a short prefix to find it),
outgoing webhooks (subscriptions and the deliveries of their events), and import jobs of the API
(an uploaded file, its plan row by row, and where planning or applying stands)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
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
    # After a rotation the old secret still signs (a second v1 in the header) until this moment,
    # so the receiver can switch to the new one without losing a delivery.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
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


class ImportJobState(enum.StrEnum):
    QUEUED = "queued"  # waiting for the worker to plan it
    PLANNING = "planning"  # being read and compared with the directory
    PLANNED = "planned"  # the plan is there to review: apply it, or discard the job
    APPLYING = "applying"  # waiting for, or in, the worker's apply
    APPLIED = "applied"  # written; import_run_id names the ImportRun
    FAILED = "failed"  # the file could not be read at all: see `error`
    DISCARDED = "discarded"  # dropped without changing anything


class ImportJob(Base):
    """A file uploaded through the API to import officials: the same parse → plan → apply as the
    console, with the file kept in the database (a worker on another host reads it there) until
    the job is applied or discarded."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(12), default=ImportJobState.QUEUED.value, index=True)
    filename: Mapped[str] = mapped_column(String(200))
    format: Mapped[str | None] = mapped_column(String(16))  # None: detected from name and bytes
    mapping: Mapped[dict[str, str | None] | None] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(default=0)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped once applied or discarded
    # Apply as soon as it is planned (no review step), if the plan has no rejected row.
    auto_apply: Mapped[bool] = mapped_column(default=False)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    source_kind: Mapped[str | None] = mapped_column(String(16))
    digest: Mapped[str | None] = mapped_column(String(16))  # of the plan shown; apply checks it
    counts: Mapped[dict[str, int] | None] = mapped_column(JSON)
    # What the console's review page shows above the diff: the columns of a spreadsheet.
    detected_mapping: Mapped[dict[str, str] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)  # e.g. "the directory changed: review again"
    error: Mapped[str | None] = mapped_column(Text)  # why the file could not be read
    import_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_runs.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportJobRow(Base):
    """One line of a job's plan: a contact created, changed or leaving office, or a rejected row
    with its reason (replaced whenever the job is planned again)."""

    __tablename__ = "import_job_rows"
    __table_args__ = (Index("ix_import_job_rows_job_kind", "job_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))  # new, changed, left_office, error
    line: Mapped[str | None] = mapped_column(String(40))
    contact_id: Mapped[int | None]
    display_name: Mapped[str | None] = mapped_column(String(400))
    # [{field, old, new}] for a change; the new contact's fields for a new one.
    changes: Mapped[list[dict[str, str | None]] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
