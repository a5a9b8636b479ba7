"""The optional second factor: TOTP codes (RFC 6238, 30-second steps, 6 digits, as authenticator
apps make them), the enrolment QR code as inline SVG, and single-use recovery codes.

A code is accepted one step early or late (clock drift) and only once: the last accepted step is
stored, so a code seen over a shoulder cannot be replayed in its window. The recovery codes are
stored only as SHA-256.

The shared secret must be readable again (each code is computed from it), so it cannot be hashed;
it is stored encrypted (`seal`: Fernet, AES-128-CBC with HMAC-SHA256, under a key derived by HKDF
from OUTREACH_SECRET_KEY), so a copy of the database alone (a backup, a dump) yields no second
factor. The price: a new OUTREACH_SECRET_KEY makes the stored secrets unreadable, and their users
sign in with a recovery code and enrol again (docs/operations.md, "Rotating OUTREACH_SECRET_KEY").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from functools import lru_cache

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.accounts.models import RecoveryCode, User

ISSUER = "Outreach"
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


# Changing this label derives another key: it names what the key is for (RFC 5869's "info").
_KEY_INFO = b"outreach: TOTP secrets at rest, v1"


class TotpError(ValueError):
    pass


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    """The cipher of TOTP secrets for this OUTREACH_SECRET_KEY (a key of its own, derived)."""
    if not secret_key:
        raise ValueError("no secret key to encrypt TOTP secrets with")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str, secret_key: str) -> str:
    """The stored form of a base32 TOTP secret: a Fernet token (ASCII, 140 characters)."""
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def unseal(stored: str | None, secret_key: str) -> str | None:
    """The secret back from its stored form; None if there is none, or it was sealed under
    another OUTREACH_SECRET_KEY (or altered: Fernet authenticates what it decrypts)."""
    if not stored:
        return None
    try:
        return _fernet(secret_key).decrypt(stored.encode()).decode()
    except InvalidToken:
        return None


def begin_enrolment(user: User, *, key: str) -> str:
    """A new secret for `user`, not yet in force (the caller commits); returns it (in clear)."""
    if user.totp_enabled:
        raise TotpError("the second factor is already on; turn it off first to enrol again")
    secret = pyotp.random_base32()
    user.totp_secret = seal(secret, key)
    user.totp_last_step = None
    return secret


def enrolment_secret(user: User, *, key: str) -> str:
    """The secret being enrolled, in clear, for the person typing it into their app."""
    return unseal(user.totp_secret, key) or ""


def provisioning_uri(user: User, *, key: str) -> str:
    return pyotp.TOTP(enrolment_secret(user, key=key)).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline <svg> element (drawn here: no image service)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, title="TOTP enrolment"))


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def verify_code(user: User, code: str, *, key: str, now: datetime | None = None) -> bool:
    """Whether `code` is the user's current TOTP code, unused; marks its step used. False also
    when the stored secret cannot be read with `key` (OUTREACH_SECRET_KEY changed since)."""
    secret = unseal(user.totp_secret, key)
    if not secret:
        return False
    code = _clean(code)
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or utcnow())
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # this code (or a later one) was used already
            user.totp_last_step = step
            return True
    return False


def _hash(code: str) -> str:
    return hashlib.sha256(_clean(code).encode()).hexdigest()


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the user's recovery codes with new ones; the codes are returned once."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash(raw)))
    return codes


def confirm_enrolment(session: Session, user: User, code: str, *, key: str) -> list[str]:
    """Turn the second factor on once the app's first code matches; the recovery codes."""
    if user.totp_enabled:
        raise TotpError("the second factor is already on")
    if not user.totp_secret:
        raise TotpError("start the enrolment first")
    if not verify_code(user, code, key=key):
        raise TotpError("that code does not match: check the time of your device and try again")
    user.totp_enabled_at = utcnow()
    return new_recovery_codes(session, user)


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Whether `code` is one of the user's unused recovery codes; it is used up."""
    row = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def recovery_codes_left(session: Session, user: User) -> int:
    return len(
        list(
            session.scalars(
                select(RecoveryCode.id).where(
                    RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
                )
            )
        )
    )


def disable(session: Session, user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
