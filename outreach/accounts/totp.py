"""The optional second factor: TOTP codes (RFC 6238, 30-second steps, 6 digits, as authenticator
apps make them), the enrolment QR code as inline SVG, and single-use recovery codes.

A code is accepted one step early or late (clock drift) and only once: the last accepted step is
stored, so a code seen over a shoulder cannot be replayed in its window. The shared secret is
stored as is (base32), like the session key it is no more secret than the database; the
recovery codes only as SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.accounts.models import RecoveryCode, User

ISSUER = "Outreach"
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


class TotpError(ValueError):
    pass


def begin_enrolment(user: User) -> str:
    """A new secret for `user`, not yet in force (the caller commits); returns it."""
    if user.totp_enabled:
        raise TotpError("the second factor is already on; turn it off first to enrol again")
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret or "").provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline <svg> element (drawn here: no image service)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, title="TOTP enrolment"))


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def verify_code(user: User, code: str, *, now: datetime | None = None) -> bool:
    """Whether `code` is the user's current TOTP code, unused; marks its step used."""
    if not user.totp_secret:
        return False
    code = _clean(code)
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(user.totp_secret)
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


def confirm_enrolment(session: Session, user: User, code: str) -> list[str]:
    """Turn the second factor on once the app's first code matches; the recovery codes."""
    if user.totp_enabled:
        raise TotpError("the second factor is already on")
    if not user.totp_secret:
        raise TotpError("start the enrolment first")
    if not verify_code(user, code):
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
