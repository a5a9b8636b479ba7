"""Signed plus-addresses: the VERP Return-Path of a letter and the Reply-To that routes its replies.

From a base address (`bounces@example.org`) and a delivery id, `SignedAddress` makes
`bounces+b123.<mac>@example.org` (VERP: variable envelope return path). A bounce comes back to that
address, so the delivery it is about is known from the address alone, without trusting anything in
the bounce's body; a reply to `replies+r123.<mac>@example.org` likewise names its letter. `id_of`
is the inverse: the delivery id of an address, or None for a foreign address or a token that does
not verify (a forgery, or an address altered on the way).

The MTA that receives for the base domain must deliver `local+anything@domain` to `local@domain`
(Postfix: `recipient_delimiter = +`); see docs/operations.md.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Final

from outreach.mail.message import HeaderError, parse_address
from outreach.mail.tokens import MAX_TOKEN_LENGTH, TokenSigner

DELIMITER: Final = "+"
MAX_LOCAL_PART: Final = 64  # RFC 5321, 4.5.3.1.1


class SignedAddress:
    """One base address and the token signer of one purpose. Immutable and thread-safe."""

    def __init__(self, base: str, signer: TokenSigner, setting: str) -> None:
        """`setting` names the variable the base came from, for the error messages."""
        try:
            address = parse_address(base, setting)
        except HeaderError as exc:
            raise ValueError(str(exc)) from exc
        if DELIMITER in address.username:
            raise ValueError(
                f"{setting}: {base!r} already has a {DELIMITER!r}; give the base address, "
                f"the signed part is added to it"
            )
        longest = len(address.username) + len(DELIMITER) + MAX_TOKEN_LENGTH
        if longest > MAX_LOCAL_PART:
            raise ValueError(
                f"{setting}: the local part {address.username!r} is too long: with a token it "
                f"could reach {longest} characters, and RFC 5321 allows {MAX_LOCAL_PART}"
            )
        self.username = address.username
        self.domain = address.domain
        self.signer = signer

    def for_id(self, row_id: int) -> str:
        """`local+<token>@domain` for a row id."""
        return f"{self.username}{DELIMITER}{self.signer.sign(row_id)}@{self.domain}"

    def id_of(self, address: object) -> int | None:
        """The row id of an address made by `for_id`, or None. Accepts `a@b`, `<a@b>` and
        `Name <a@b>`; compares the base local part and the domain without regard to case. Never
        raises, whatever it is given."""
        if not isinstance(address, str) or len(address) > 1000:
            return None
        try:
            _, addr = parseaddr(address.strip())
        except Exception:  # parseaddr on hostile input: a None, never an error for the caller
            return None
        local, at, domain = addr.rpartition("@")
        if not at or domain.rstrip(".").lower() != self.domain.lower():
            return None
        base, delimiter, token = local.partition(DELIMITER)
        if not delimiter or base.lower() != self.username.lower():
            return None
        return self.signer.verify(token)
