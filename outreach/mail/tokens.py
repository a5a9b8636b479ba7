"""Short HMAC-signed tokens that name a row (a delivery, a supporter) inside an address or a URL.

A token is `<kind letter><id>.<mac>`, e.g. `b123.k3v7x2mq4a9fz6wd`: the kind letter says what the
token is for, the id is the row's decimal id, the MAC is the first 80 bits of HMAC-SHA256 over the
kind letter and the id, written in lowercase base32. Each purpose ("bounce", "reply",
"unsubscribe") signs with its own key, derived from the service's secret key and the purpose's
label, so a token made for one purpose never verifies for another (a reply token cannot be replayed
as a bounce to mark a letter bounced) even if its letter were changed.

Why this shape:
- Lowercase letters and digits only, and verification lower-cases first: some MTAs fold the case
  of local parts, and a token must survive that.
- At most 1 + 19 + 1 + 16 = 37 characters, so `bounces+<token>` fits in the 64 octets that
  RFC 5321 allows a local part.
- 80 bits of MAC: a forger cannot guess one in any number of tries an inbound mailbox would see,
  and the token stays short enough for a local part.
- Only the canonical spelling verifies (no leading zeros, no other digits than ASCII's), so one id
  has exactly one valid token per purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Final

# The purposes and the letter that starts their tokens. The letter lets whoever reads an inbound
# address see what a token is for before verifying it; the key separation is what enforces it.
PURPOSES: Final[dict[str, str]] = {"bounce": "b", "reply": "r", "unsubscribe": "u"}

MAC_BYTES: Final = 10  # 80 bits: 16 base32 characters, no padding
MAX_ID: Final = 2**63 - 1  # a BIGINT primary key: at most 19 digits
MAX_TOKEN_LENGTH: Final = 1 + len(str(MAX_ID)) + 1 + MAC_BYTES * 8 // 5

_KEY_LABEL: Final = b"outreach signed token v1 for "
_TOKEN = re.compile(r"([a-z])(0|[1-9][0-9]{0,18})\.([a-z2-7]{16})", re.ASCII)


def derive_key(secret_key: str, purpose: str) -> bytes:
    """The key of one purpose: HMAC-SHA256(secret, label + purpose). Rotating the secret key
    invalidates every token made with it (see docs/operations.md)."""
    if not secret_key:
        raise ValueError("signed tokens need a secret key (OUTREACH_SECRET_KEY)")
    label = _KEY_LABEL + purpose.encode("ascii")
    return hmac.new(secret_key.encode("utf-8"), label, hashlib.sha256).digest()


class TokenSigner:
    """Makes and checks the tokens of one purpose. Immutable and thread-safe."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}; known: {', '.join(PURPOSES)}")
        self.purpose = purpose
        self.kind = PURPOSES[purpose]
        self._key = derive_key(secret_key, purpose)

    def _mac(self, kind_and_id: str) -> str:
        digest = hmac.new(self._key, kind_and_id.encode("ascii"), hashlib.sha256).digest()
        return base64.b32encode(digest[:MAC_BYTES]).decode("ascii").lower()

    def sign(self, value: int) -> str:
        """The token for a row id (0 ≤ id < 2**63)."""
        # bool is an int: a True passed by mistake must not become the token of row 1.
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
            raise ValueError(f"a token names a row id from 0 to 2**63-1, not {value!r}")
        kind_and_id = f"{self.kind}{value}"
        return f"{kind_and_id}.{self._mac(kind_and_id)}"

    def verify(self, token: object) -> int | None:
        """The id a token names, or None for anything else: another purpose's token, a forged or
        altered one, garbage of any type. Never raises."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        match = _TOKEN.fullmatch(token.lower())
        if match is None or match.group(1) != self.kind:
            return None
        kind_and_id = match.group(1) + match.group(2)
        # compare_digest: the time taken does not tell a forger how many characters were right.
        if not hmac.compare_digest(self._mac(kind_and_id), match.group(3)):
            return None
        value = int(match.group(2))
        return value if value <= MAX_ID else None
