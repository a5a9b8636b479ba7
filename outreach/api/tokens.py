"""Creating, finding and revoking API tokens (services: a session and plain values, no Flask).

A token is `otk_<prefix>_<secret>`: the prefix (8 random characters) is stored in clear to find
the row, the whole token only as its SHA-256. The token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from contacts.base import utcnow
from outreach.accounts.models import Role, User
from outreach.api.models import ApiToken, Scope

TOKEN_MARK = "otk_"  # noqa: S105 (the marker of our tokens, not a secret)
MAX_NAME = 100
# last_used_at is written at most this often per token: a script polling progress every second
# must not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token that cannot be made or revoked, with a message for the user."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, user: User, *, name: str, scope: str) -> tuple[ApiToken, str]:
    """A new token of `user`; returns the row and the token itself (never stored)."""
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise TokenError("give the token a name (what it is for)")
    if scope not in {s.value for s in Scope}:
        raise TokenError("the scope is read or write")
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_MARK}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        user_id=user.id, name=name, prefix=prefix, token_hash=hash_token(token), scope=scope
    )
    session.add(row)
    session.flush()
    return row, token


def _prefix_of(token: str) -> str | None:
    if not token.startswith(TOKEN_MARK):
        return None
    prefix, sep, secret = token[len(TOKEN_MARK) :].partition("_")
    return prefix if sep and secret and len(prefix) == 8 else None


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> ApiToken | None:
    """The active token of an active user that `token` is, or None. Notes when it was used."""
    prefix = _prefix_of(token)
    if prefix is None:
        return None
    row = session.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.prefix == prefix)
    )
    if row is None or not hmac.compare_digest(row.token_hash, hash_token(token)):
        return None
    if not row.active or not row.user.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or _aware(row.last_used_at) < now - LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for the UTC values it stored.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def all_tokens(session: Session) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, token_id: int, *, by: User) -> ApiToken:
    """Revoke a token: its owner may, and an admin may revoke anyone's. Revoking twice is a no-op."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != by.id and by.role != Role.ADMIN.value):
        raise TokenError("there is no such token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = by.email
    return row
