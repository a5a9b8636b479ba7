"""Signed, expiring tokens of the public pages: the confirmation link and the form's token.

The confirmation link carries `<signature id>.<digest of its address>` signed with itsdangerous
(salted per purpose, keyed with the secret key) and expires after 7 days: a forged, altered or
old link confirms nothing. The address digest binds a link to the address it was mailed to.

The signing form carries its own token instead of Flask-WTF's session-bound one, because the
embeddable form lives in a partner's iframe where browsers no longer send our cookies
(third-party cookies are blocked): a signed token with its issue time proves that the form came
from us, and says how long the visitor took to fill it (the minimum fill time).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CONFIRMATION_MAX_AGE = timedelta(days=7)
FORM_MAX_AGE = timedelta(days=1)


def _address_digest(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:12]


class ConfirmationTokens:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt="outreach.signature-confirmation"
        )

    def make(self, signature_id: int, email: str) -> str:
        return self._serializer.dumps([signature_id, _address_digest(email)])

    def read(self, token: str) -> tuple[int, str] | None:
        """(signature id, address digest), or None for a forged, altered or expired token."""
        try:
            value = self._serializer.loads(token, max_age=int(CONFIRMATION_MAX_AGE.total_seconds()))
        except (BadSignature, SignatureExpired):
            return None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], int)
            or not isinstance(value[1], str)
        ):
            return None
        return value[0], value[1]

    @staticmethod
    def matches(digest: str, email: str) -> bool:
        return digest == _address_digest(email)


class FormTokens:
    """The public form's token: the campaign it was made for, signed with its issue time."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="outreach.public-form")

    def make(self, campaign_id: int) -> str:
        return self._serializer.dumps(campaign_id)

    def age(self, token: str, campaign_id: int) -> float | None:
        """Seconds since the token was made, or None if it is not ours, not for this
        campaign, or older than a day."""
        from contacts.base import utcnow

        try:
            value, issued = self._serializer.loads(
                token, max_age=int(FORM_MAX_AGE.total_seconds()), return_timestamp=True
            )
        except (BadSignature, SignatureExpired):
            return None
        if value != campaign_id:
            return None
        return (utcnow() - issued).total_seconds()


class WithdrawalTokens:
    """The withdrawal link in a supporter's mails: `[signature id, digest of the address]`,
    signed, and valid as long as the signature exists (a supporter may withdraw at any time)."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="outreach.signature-withdrawal")

    def make(self, signature_id: int, email: str) -> str:
        return self._serializer.dumps([signature_id, _address_digest(email)])

    def read(self, token: str) -> tuple[int, str] | None:
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            return None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], int)
            or not isinstance(value[1], str)
        ):
            return None
        return value[0], value[1]
