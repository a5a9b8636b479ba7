"""Staff accounts: creating users, checking passwords, invitations and password resets by
one-time link, roles and deactivation (never locking out the last admin).

Services take a session and plain values and never commit: the caller does, once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.accounts.models import NO_PASSWORD, AccountLink, LinkPurpose, Role, User
from outreach.accounts.passwords import (
    hash_password,
    hasher,
    password_problems,
    verify_password,
)
from outreach.jobs import Job, defer

# The mail of one account link (invitation or reset): args (account link id,). The actor
# (workers/accounts.py) makes the token when it sends, so no usable link is ever queued.
ACCOUNT_MAIL = Job("account_mail", "accounts")


class AccountError(ValueError):
    pass


class PasswordError(AccountError):
    """A password that breaks the rules: every problem, for the password field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def normalise_email(address: str) -> str:
    try:
        # No DNS look-up: the service may run where DNS is not reachable.
        info = validate_email(address, check_deliverability=False)
        return info.normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{address!r} is not a valid e-mail address: {exc}") from exc


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def _check_role(role: str) -> None:
    if role not in {r.value for r in Role}:
        raise AccountError(f"unknown role {role!r}; choose admin, campaigner or viewer")


def _check_password(password: str, email: str) -> None:
    problems = password_problems(password, email)
    if problems:
        raise PasswordError(problems)


def create_user(
    session: Session, email: str, password: str, role: str = Role.CAMPAIGNER.value
) -> User:
    email = normalise_email(email)
    _check_role(role)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with the address {email} already exists")
    _check_password(password, email)
    user = User(
        email=email, password_hash=hash_password(password), role=role, password_changed_at=utcnow()
    )
    session.add(user)
    session.flush()
    return user


def check_password(session: Session, email: str, password: str) -> User | None:
    """The active user with this address and password, or None (the same time either way).
    Rehashes outdated hashes; does not count as a sign-in (a second factor may follow)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    if not verify_password(user.password_hash, password):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """`check_password`, and the sign-in recorded on the user (no second factor asked)."""
    user = check_password(session, email, password)
    if user is not None:
        user.last_login_at = utcnow()
    return user


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


# --- one-time links --------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh link token and its hash (256 random bits: a plain hash is enough to store it)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def _new_link(
    session: Session, user: User, purpose: LinkPurpose, valid: timedelta, by: User | None
) -> AccountLink:
    now = utcnow()
    # Only the newest link of a purpose works: a second invitation voids the first.
    session.execute(
        update(AccountLink)
        .where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == purpose.value,
            AccountLink.used_at.is_(None),
            AccountLink.voided_at.is_(None),
        )
        .values(voided_at=now)
    )
    link = AccountLink(
        user_id=user.id,
        purpose=purpose.value,
        created_at=now,
        expires_at=now + valid,
        created_by_id=by.id if by else None,
    )
    session.add(link)
    session.flush()
    defer(session, ACCOUNT_MAIL, link.id)
    return link


def invite_user(
    session: Session, email: str, role: str, *, by: User, valid: timedelta
) -> tuple[User, AccountLink]:
    """A new user without password, and their invitation mailed after commit. Inviting an
    address already invited (not yet signed up) sends a new link and voids the old one."""
    email = normalise_email(email)
    _check_role(role)
    user = user_by_email(session, email)
    if user is not None and (user.has_password or not user.active):
        raise AccountError(f"a user with the address {email} already exists")
    if user is None:
        user = User(email=email, password_hash=NO_PASSWORD, role=role)
        session.add(user)
        session.flush()
    else:
        user.role = role
    return user, _new_link(session, user, LinkPurpose.INVITE, valid, by)


def request_reset(session: Session, email: str, *, valid: timedelta) -> AccountLink | None:
    """A reset link mailed after commit to an active user with this address; None (and
    nothing sent) for an unknown, invited or deactivated address. The caller answers the same
    either way, so the form tells no one which addresses have accounts."""
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    user = user_by_email(session, email)
    if user is None or not user.active or not user.has_password:
        return None
    return _new_link(session, user, LinkPurpose.RESET, valid, None)


def valid_link(session: Session, token: str, purpose: LinkPurpose) -> AccountLink | None:
    """The unexpired, unused, newest link of this token and purpose, of an active user."""
    if not token or len(token) > 200:
        return None
    link = session.scalar(
        select(AccountLink).where(
            AccountLink.token_hash == token_hash(token), AccountLink.purpose == purpose.value
        )
    )
    if link is None or link.used_at is not None or link.voided_at is not None:
        return None
    if link.expires_at.replace(tzinfo=link.expires_at.tzinfo or utcnow().tzinfo) <= utcnow():
        return None
    user = session.get(User, link.user_id)
    if user is None or not user.active:
        return None
    return link


def use_link(session: Session, token: str, purpose: LinkPurpose, password: str) -> User:
    """Set the password through a one-time link; the link is used up."""
    link = valid_link(session, token, purpose)
    if link is None:
        raise AccountError("this link is not valid any more: it was used, replaced or expired")
    user = session.get(User, link.user_id)
    assert user is not None
    _check_password(password, user.email)
    # Compare-and-set: of two requests with the same link, one wins.
    used = session.execute(
        update(AccountLink)
        .where(AccountLink.id == link.id, AccountLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise AccountError("this link has just been used")
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise AccountError("the current password is wrong")
    _check_password(new, user.email)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()


# --- roles and deactivation ----------------------------------------------------------------------
def _other_active_admins(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(
                User.role == Role.ADMIN.value,
                User.active.is_(True),
                User.password_hash != NO_PASSWORD,
                User.id != user.id,
            )
        )
        or 0
    )


def _keep_an_admin(session: Session, user: User) -> None:
    if user.role == Role.ADMIN.value and user.active and not _other_active_admins(session, user):
        raise AccountError(
            f"{user.email} is the last active admin: make another user admin first, or no one "
            "could manage users any more"
        )


def set_role(session: Session, user: User, role: str) -> None:
    _check_role(role)
    if role != user.role and role != Role.ADMIN.value:
        _keep_an_admin(session, user)
    user.role = role


def set_active(session: Session, user: User, active: bool) -> None:
    if not active:
        _keep_an_admin(session, user)
        # Outstanding links die with the account.
        session.execute(
            update(AccountLink)
            .where(AccountLink.user_id == user.id, AccountLink.used_at.is_(None))
            .values(voided_at=utcnow())
        )
    user.active = active
