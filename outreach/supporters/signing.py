"""Signing a campaign's letter: one signature per (campaign, address), race-safe.

`sign` inserts with INSERT … ON CONFLICT DO NOTHING on the unique (campaign, e-mail), so any
number of simultaneous submissions of one address leave exactly one row, on SQLite and
PostgreSQL alike, and only while the campaign's signing is open (checked in the same statement).
A new signature is `pending` and its row asks for its confirmation mail: the row is the mail's
outbox, which a worker sweeps (outreach.supporters.outbox). Signing again with the same address
changes nothing but may ask for the confirmation link again, at most once an hour (a
compare-and-set on `confirmation_requested_at`, so simultaneous repeats send one mail).

A burst from one source (more than N signatures of one campaign from one IP hash within M
minutes, OUTREACH_SIGN_BURST) is stored `held` for staff to review: it counts for nothing and
mails no one, since a bot that floods the form with other people's addresses must not make us
write to them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import (
    Integer,
    bindparam,
    case,
    event,
    exists,
    func,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

import outreach.api.webhooks  # outgoing webhooks of this module's events
from contacts.base import utcnow
from outreach.campaigns.models import Campaign
from outreach.db import is_autocommit
from outreach.supporters.models import PrivacyNotice, Signature, SignatureState
from outreach.supporters.outbox import kick_after_commit

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


class CampaignRef(Protocol):
    """What signing needs of a campaign: its id (an ORM Campaign, or a cached copy of it)."""

    @property
    def id(self) -> int: ...


@dataclass(frozen=True)
class SignResult:
    # new: pending, confirmation asked for; held: stored for review; again: the address had
    # signed; closed: the campaign's signing closed (nothing stored).
    outcome: Literal["new", "held", "again", "closed"]
    signature_id: int
    mail_queued: bool


def ip_hash(secret_key: str, address: str) -> str:
    """A keyed hash of an IP address: the same source is recognisable, the address is not
    recoverable without the key (a plain hash of the 2^32 IPv4 addresses would be)."""
    return hmac.digest(secret_key.encode(), f"ip:{address}".encode(), "sha256").hex()


def plain_text(value: str, limit: int) -> str:
    """One line of text: control characters and runs of white space become one space."""
    cleaned = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in value)
    return " ".join(cleaned.split())[:limit]


# Where a signature is written: the caller's session (the caller commits), or a connection of
# Database.autocommit() (each statement is committed as it runs; the public form's, see `sign`).
Writer = Session | Connection


def _dialect(db: Writer) -> str:
    return (db.get_bind() if isinstance(db, Session) else db).dialect.name


def _after_commit(db: Writer, action: Callable[[], None]) -> None:
    """Run `action` once `db`'s work is committed: at once on an autocommit connection."""
    if isinstance(db, Session):
        event.listen(db, "after_commit", lambda _session: action(), once=True)
    else:
        action()


def _require_autocommit(db: Writer) -> None:
    if isinstance(db, Connection) and not is_autocommit(db):
        # What runs after the commit (the kick, the notice remembered) would run at once, for
        # work that might yet be rolled back.
        raise ValueError("sign() writes on a session, or on a connection of Database.autocommit()")


def _insert(db: Writer, table: Any) -> Any:
    return (postgresql if _dialect(db) == "postgresql" else sqlite).insert(table)


def record_notice(db: Writer, text: str, known: set[str] | None = None) -> str:
    """The notice's SHA-256, storing its text the first time it is consented to. `known` (the
    caller's set of digests already stored; notices are never deleted) saves the upsert."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if known is not None and digest in known:
        return digest
    db.execute(
        _insert(db, PrivacyNotice)
        .values(sha256=digest, text=text, first_used_at=utcnow())
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    if known is not None:
        # Remembered only once the transaction commits: a rolled-back upsert stored nothing.
        _after_commit(db, lambda: known.add(digest))
    return digest


_NEW_SIGNATURE: dict[tuple[str, bool], Any] = {}
# No burst rule: a window that starts in the year 9999 holds no row, so nothing is held.
_NO_WINDOW = datetime(9999, 1, 1, tzinfo=UTC)


def _new_signature_statement(db: Writer, *, only_open: bool) -> Any:
    """One statement that decides and inserts: INSERT … SELECT whose state is `held` when the
    source already has the burst threshold's number of signatures of this campaign within the
    window (counting stops there), ON CONFLICT (campaign, e-mail) DO NOTHING, RETURNING id and
    state. With `only_open` it inserts nothing unless the campaign's signing is open (so a
    caller may have read the campaign a moment ago). One statement is one round trip, and on SQLite a transaction that
    starts by writing waits for another writer, where one that read first would fail when the
    other committed.

    Built once per dialect with bound parameters, so SQLAlchemy compiles it once."""
    key = (_dialect(db), only_open)
    if key in _NEW_SIGNATURE:
        return _NEW_SIGNATURE[key]
    table = Signature.__table__
    recent = (
        select(table.c.id)
        .where(
            table.c.campaign_id == bindparam("campaign_id"),
            table.c.ip_hash == bindparam("ip_hash"),
            table.c.created_at >= bindparam("burst_since", type_=table.c.created_at.type),
        )
        .limit(bindparam("burst_count", type_=Integer))
        .subquery()
    )
    # Decided once, in a one-row subquery that both columns below read.
    decision = select(
        (
            select(func.count()).select_from(recent).scalar_subquery()
            >= bindparam("burst_count", type_=Integer)
        ).label("held")
    ).subquery("decision")
    held = decision.c.held
    computed = {
        "state": case((held, SignatureState.HELD.value), else_=SignatureState.PENDING.value),
        "confirmation_requested_at": case(
            (held, null()), else_=bindparam("now", type_=table.c.created_at.type)
        ),
        "created_at": bindparam("now", type_=table.c.created_at.type),
        "updated_at": bindparam("now", type_=table.c.created_at.type),
    }
    names = [*_GIVEN_COLUMNS, *computed]
    values = [bindparam(name, type_=table.c[name].type) for name in _GIVEN_COLUMNS]
    # A WHERE is needed anyway: SQLite's parser needs one between INSERT … SELECT and ON CONFLICT.
    chosen = (
        select(*values, *computed.values())
        .select_from(decision)
        .where(_open_campaign() if only_open else true())
    )
    statement = (
        _insert(db, table)
        .from_select(names, chosen)
        .on_conflict_do_nothing(index_elements=["campaign_id", "email"])
        .returning(table.c.id, table.c.state)
    )
    _NEW_SIGNATURE[key] = statement
    return statement


def _open_campaign(campaign_id: int | None = None) -> Any:
    """The campaign's signing is open: of the bound `campaign_id`, or of the one given."""
    campaigns = Campaign.__table__.c
    wanted: Any = bindparam("campaign_id") if campaign_id is None else campaign_id
    return exists().where(campaigns.id == wanted, campaigns.signing_open.is_(True))


_GIVEN_COLUMNS = (
    "campaign_id",
    "name",
    "email",
    "country",
    "organisation",
    "comment",
    "language",
    "consent",
    "privacy_notice_sha256",
    "updates_opt_in",
    "named",
    "ip_hash",
)


def sign(
    db: Writer,
    campaign: CampaignRef,
    data: SignatureInput,
    *,
    source: str,
    burst: tuple[int, int] | None,
    now: datetime | None = None,
    known_notices: set[str] | None = None,
    kicker: Callable[[], None] | None = None,
    only_open: bool = False,
) -> SignResult:
    """Record a signature: on a session (the caller commits), or on a connection of
    `Database.autocommit()` (each statement committed as it runs: the public form's, which needs
    neither the ORM nor a transaction around one statement). `source` is the IP hash; `known_notices` the caller's
    set of privacy notices already stored (see record_notice); `kicker` has the confirmation
    outbox swept after the commit (default, on a session only: one job deferred, see outbox);
    `only_open` stores nothing if the campaign's signing has closed (outcome `closed`), for a
    caller that may hold a campaign read a moment ago."""
    now = now or utcnow()
    _require_autocommit(db)
    if kicker is None and isinstance(db, Connection):
        raise ValueError("sign() on a connection needs a kicker (a deferred job needs a session)")
    notice = record_notice(db, data.privacy_notice, known_notices)
    burst_count, since = (burst[0], now - timedelta(minutes=burst[1])) if burst else (1, _NO_WINDOW)
    # On a session, its connection: a Core statement needs none of the ORM's execution steps.
    row = (
        (db.connection() if isinstance(db, Session) else db)
        .execute(
            _new_signature_statement(db, only_open=only_open),
            {
                "campaign_id": campaign.id,
                "name": plain_text(data.name, MAX_NAME),
                "email": data.email,
                "country": data.country,
                "organisation": plain_text(data.organisation, MAX_ORGANISATION) or None,
                "comment": data.comment.strip()[:MAX_COMMENT] or None,
                "language": data.language,
                "consent": True,
                "privacy_notice_sha256": notice,
                "updates_opt_in": data.updates_opt_in,
                "named": data.named,
                "ip_hash": source,
                "now": now,
                "burst_since": since,
                "burst_count": burst_count,
            },
        )
        .first()
    )
    if row is not None:
        new_id, state = row
        if state == SignatureState.HELD.value:
            return SignResult("held", new_id, mail_queued=False)
        _kick(db, kicker)
        return SignResult("new", new_id, mail_queued=True)
    # The address has signed already: perhaps send the link again, at most once an hour.
    again = db.scalar(
        update(Signature)
        .where(
            Signature.campaign_id == campaign.id,
            Signature.email == data.email,
            Signature.state == SignatureState.PENDING.value,
            or_(
                Signature.confirmation_requested_at.is_(None),
                Signature.confirmation_requested_at < now - RESEND_INTERVAL,
            ),
            *([_open_campaign(campaign.id)] if only_open else []),
        )
        # Back into the outbox: the next sweep claims it again.
        .values(confirmation_requested_at=now, confirmation_claimed_at=None, updated_at=now)
        .returning(Signature.id)
    )
    if again is not None:
        _kick(db, kicker)
        return SignResult("again", again, mail_queued=True)
    existing = db.scalar(
        select(Signature.id).where(
            Signature.campaign_id == campaign.id, Signature.email == data.email
        )
    )
    if existing is None and only_open:
        # Nothing inserted and no earlier signature: the campaign's signing is closed.
        return SignResult("closed", 0, mail_queued=False)
    return SignResult("again", existing or 0, mail_queued=False)


def _kick(db: Writer, kicker: Callable[[], None] | None) -> None:
    """Have the outbox swept once the new request for a mail is committed."""
    if isinstance(db, Session):
        kick_after_commit(db, kicker)
    elif kicker is not None:
        kicker()


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
