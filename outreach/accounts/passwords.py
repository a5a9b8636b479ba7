"""Password rules and hashing (argon2id via argon2-cffi).

The rules follow NIST SP 800-63B rather than composition rules: long enough (12 characters),
not absurdly long (the hash would take the time), not one character repeated, and not the
account's own address. Each broken rule is one sentence, shown on the password field.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
MIN_DISTINCT_CHARACTERS = 5

hasher = PasswordHasher()


def password_problems(password: str, email: str = "") -> list[str]:
    """What is wrong with `password` for the account `email`; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    if password and len(set(password)) < MIN_DISTINCT_CHARACTERS:
        problems.append(
            f"the password must use at least {MIN_DISTINCT_CHARACTERS} different characters"
        )
    local = email.partition("@")[0].lower()
    if len(local) >= 4 and local in password.lower():
        problems.append("the password must not contain your e-mail address")
    return problems


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches; an empty or broken hash (an invited user) never does."""
    if not password_hash:
        hasher.hash(password)  # the same time as a real check
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
