"""Signing a campaign's letter: one signature per (campaign, address), race-safe.

`sign` inserts with INSERT … ON CONFLICT DO NOTHING on the unique (campaign, e-mail), so any
number of simultaneous submissions of one address leave exactly one row, on SQLite and
PostgreSQL alike. A new signature is `pending` and its confirmation mail is deferred to the
worker (enqueued after the caller commits). Signing again with the same address changes nothing
but may send the confirmation link again, at most once an hour (a compare-and-set on
`confirmation_requested_at`, so simultaneous repeats send one mail).

A burst from one source (more than N signatures of one campaign from one IP hash within M
minutes, OUTREACH_SIGN_BURST) is stored `held` for staff to review: it counts for nothing and
mails no one, since a bot that floods the form with other people's addresses must not make us
write to them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import outreach.api.webhooks  # outgoing webhooks of this module's events
from contacts.base import utcnow
from outreach.campaigns.models import Campaign
from outreach.jobs import SIGNATURE_MAIL, defer
from outreach.supporters.models import PrivacyNotice, Signature, SignatureState

RESEND_INTERVAL = timedelta(hours=1)
MAX_NAME = 200
MAX_ORGANISATION = 200
MAX_COMMENT = 1000


@dataclass(frozen=True)
class SignatureInput:
    """What a supporter typed, already validated (the e-mail normalised) by the form."""

    name: str
    email: str
    country: str
    privacy_notice: str
    organisation: str = ""
    comment: str = ""
    updates_opt_in: bool = False
    named: bool = False
    language: str = "en"


@dataclass(frozen=True)
class SignResult:
    # new: pending, confirmation queued; held: stored for review; again: the address had signed.
    outcome: Literal["new", "held", "again"]
    signature_id: int
    mail_queued: bool


def ip_hash(secret_key: str, address: str) -> str:
    """A keyed hash of an IP address: the same source is recognisable, the address is not
    recoverable without the key (a plain hash of the 2^32 IPv4 addresses would be)."""
    return hmac.new(secret_key.encode(), f"ip:{address}".encode(), hashlib.sha256).hexdigest()


def plain_text(value: str, limit: int) -> str:
    """One line of text: control characters and runs of white space become one space."""
    cleaned = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in value)
    return " ".join(cleaned.split())[:limit]


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def record_notice(session: Session, text: str) -> str:
    """The notice's SHA-256, storing its text the first time it is consented to."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    session.execute(
        _insert(session, PrivacyNotice)
        .values(sha256=digest, text=text, first_used_at=utcnow())
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return digest


def _is_burst(
    session: Session, campaign_id: int, source: str, burst: tuple[int, int] | None, now: datetime
) -> bool:
    if burst is None:
        return False
    count, minutes = burst
    recent = session.scalar(
        select(func.count())
        .select_from(Signature)
        .where(
            Signature.campaign_id == campaign_id,
            Signature.ip_hash == source,
            Signature.created_at >= now - timedelta(minutes=minutes),
        )
    )
    return (recent or 0) >= count


def sign(
    session: Session,
    campaign: Campaign,
    data: SignatureInput,
    *,
    source: str,
    burst: tuple[int, int] | None,
    now: datetime | None = None,
) -> SignResult:
    """Record a signature (the caller commits). `source` is the IP hash."""
    now = now or utcnow()
    # Read before the first write: on SQLite a transaction that reads and then writes fails at
    # once if another writer committed in between, while one that starts by writing waits.
    held = _is_burst(session, campaign.id, source, burst, now)
    notice = record_notice(session, data.privacy_notice)
    state = SignatureState.HELD if held else SignatureState.PENDING
    new_id = session.scalar(
        _insert(session, Signature)
        .values(
            campaign_id=campaign.id,
            name=plain_text(data.name, MAX_NAME),
            email=data.email,
            country=data.country,
            organisation=plain_text(data.organisation, MAX_ORGANISATION) or None,
            comment=data.comment.strip()[:MAX_COMMENT] or None,
            language=data.language,
            consent=True,
            privacy_notice_sha256=notice,
            updates_opt_in=data.updates_opt_in,
            named=data.named,
            state=state.value,
            ip_hash=source,
            created_at=now,
            updated_at=now,
            confirmation_requested_at=None if held else now,
        )
        .on_conflict_do_nothing(index_elements=["campaign_id", "email"])
        .returning(Signature.id)
    )
    if new_id is not None:
        if not held:
            defer(session, SIGNATURE_MAIL, new_id, "confirm")
        return SignResult("held" if held else "new", new_id, mail_queued=not held)
    # The address has signed already: perhaps send the link again, at most once an hour.
    again = session.scalar(
        update(Signature)
        .where(
            Signature.campaign_id == campaign.id,
            Signature.email == data.email,
            Signature.state == SignatureState.PENDING.value,
            or_(
                Signature.confirmation_requested_at.is_(None),
                Signature.confirmation_requested_at < now - RESEND_INTERVAL,
            ),
        )
        .values(confirmation_requested_at=now, updated_at=now)
        .returning(Signature.id)
    )
    if again is not None:
        defer(session, SIGNATURE_MAIL, again, "confirm")
        return SignResult("again", again, mail_queued=True)
    existing = session.scalar(
        select(Signature.id).where(
            Signature.campaign_id == campaign.id, Signature.email == data.email
        )
    )
    return SignResult("again", existing or 0, mail_queued=False)


def confirm_pending(session: Session, signature_id: int, *, now: datetime | None = None) -> bool:
    """Confirm a pending signature (compare-and-set); True only for the call that confirmed it,
    so what follows a confirmation (a supporter's letters) happens once."""
    now = now or utcnow()
    changed = session.scalar(
        update(Signature)
        .where(Signature.id == signature_id, Signature.state == SignatureState.PENDING.value)
        .values(state=SignatureState.CONFIRMED.value, confirmed_at=now, updated_at=now)
        .returning(Signature.id)
    )
    if changed is not None:
        # Only the call that confirmed it tells webhook subscribers (signature.confirmed).
        outreach.api.webhooks.signature_confirmed(session, signature_id)
    return changed is not None


def confirm(session: Session, signature_id: int, *, now: datetime | None = None) -> str | None:
    """Confirm a pending signature (compare-and-set). Returns the state it is in afterwards, or
    None if there is no such signature."""
    confirm_pending(session, signature_id, now=now)
    return session.scalar(select(Signature.state).where(Signature.id == signature_id))


def confirmed_count(session: Session, campaign_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Signature)
            .where(
                Signature.campaign_id == campaign_id,
                Signature.state == SignatureState.CONFIRMED.value,
            )
        )
        or 0
    )
