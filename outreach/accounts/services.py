"""Creating users and checking passwords (argon2id via argon2-cffi)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.accounts.models import Role, User

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    pass


def normalise_email(address: str) -> str:
    try:
        # No DNS look-up: the service may run where DNS is not reachable.
        info = validate_email(address, check_deliverability=False)
        return info.normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{address!r} is not a valid e-mail address: {exc}") from exc


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def create_user(
    session: Session, email: str, password: str, role: str = Role.CAMPAIGNER.value
) -> User:
    email = normalise_email(email)
    if role not in {r.value for r in Role}:
        raise AccountError(f"unknown role {role!r}; choose admin, campaigner or viewer")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with the address {email} already exists")
    user = User(email=email, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this address and password, or None. Rehashes outdated hashes."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        _hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
