"""Building letters as RFC 5322 messages with the SMTP policy.

No header value may carry CR or LF (header injection): every value passes `header_safe`, and the
addresses are parsed strictly. The Message-ID is fixed before sending and stored on the delivery,
so a reply or a bounce can be matched to it.

Two builders, so that which kind of mail is made is never left to a default: `build_letter` for
letters to officials, which never carry List-Unsubscribe (an MEP has not subscribed to anything,
and the header would invite their mail system to treat the letter as bulk), and
`build_supporter_mail` for mail to supporters, which always carries List-Unsubscribe with a
one-click URL and a mailto address, and List-Unsubscribe-Post (RFC 2369, RFC 8058).
`message_bytes` gives a message's wire form, the bytes that are DKIM-signed and sent.
"""

from __future__ import annotations

import email.errors
import email.policy
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid
from typing import Final
from urllib.parse import urlsplit

from contacts.base import utcnow


class HeaderError(ValueError):
    pass


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_DISPLAY_NAME = 200


def header_safe(value: str, name: str) -> str:
    """The value, refused if it has a line break, with RFC 2047 encoded words made inert.

    A value such as "=?utf-8?q?Doe=0D=0ABcc:_x@example.org?=" is an encoded word: mail readers,
    and the email package when it refolds a header, decode it into whatever it encodes, CR/LF
    included. A word joiner after "=" keeps it literal text (it reads the same)."""
    if "\r" in value or "\n" in value:
        raise HeaderError(f"the {name} header must not contain line breaks")
    # Other control characters (NUL, ESC, ...) have no place in a header: a space instead, and
    # runs of white space become one space (a run would fold into a blank header line).
    value = " ".join(_CONTROL.sub(" ", value).split())
    return value.replace("=?", "=\u2060?")


# A bare address whose local part and domain are dot-atoms of ASCII letters, digits and atext
# (almost every address): the strict parser would find exactly this username and domain, which
# tests/test_wire_message.py checks. It takes 2 µs instead of the parser's 190 µs a letter. No
# "?" in the local part: "=?" would start an encoded word, which the parser decodes (and refuses).
_PLAIN_ADDRESS = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=^_`{|}~-]+)*)"
    r"@(?P<domain>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)",
    re.ASCII,
)


def parse_address(value: str, name: str) -> Address:
    """Parse "Name <user@example.org>" or a bare address strictly; raise HeaderError if unusable."""
    plain = _PLAIN_ADDRESS.fullmatch(value)
    if plain is not None:
        return Address(username=plain["local"], domain=plain["domain"])
    header_safe(value, name)
    try:
        header = email.policy.strict.header_factory("to", value)
    except (ValueError, IndexError, email.errors.HeaderParseError) as exc:
        raise HeaderError(f"{name}: {value!r} is not an e-mail address") from exc
    addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
    if header.defects or len(addresses) != 1:
        raise HeaderError(f"{name}: {value!r} is not one e-mail address")
    address = addresses[0]
    if not address.username or not address.domain:
        raise HeaderError(f"{name}: {value!r} is not an e-mail address")
    return address


class _UriListHeader(UnstructuredHeader, BaseHeader):
    """List-Unsubscribe: `<uri>, <uri>` kept as written. The email package would fold a line
    longer than 78 characters by turning the URIs into RFC 2047 encoded words, which no mail
    client reads as URIs; this folds only after the commas between them (a URI itself is never
    cut, as RFC 2369 asks), even if a line then runs past 78 characters (up to RFC 5322's 998)."""

    max_count = 1

    def fold(self, *, policy: Policy) -> str:
        uris = [u.strip() for u in str(self).split(",")]
        one_line = f"{self.name}: {', '.join(uris)}"
        if len(one_line) <= (policy.max_line_length or 78):
            return one_line + policy.linesep
        return f"{self.name}: " + f",{policy.linesep} ".join(uris) + policy.linesep


def _header_registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    registry.map_to_type("list-unsubscribe", _UriListHeader)
    return registry


# email.policy.SMTP (CRLF line ends, 78-column folding) with the one header it cannot fold well.
POLICY: Final = email.policy.SMTP.clone(header_factory=_header_registry())


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes on the wire (before SMTP's dot-stuffing): CRLF line ends. These
    are the bytes a DKIM signature covers, so signing and sending must both start from them."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=msg.policy.clone(linesep="\r\n")).flatten(msg)
    return buffer.getvalue()


def new_message_id(sender_domain: str) -> str:
    return make_msgid(domain=sender_domain)


def named_address(name: str, address: str, header: str) -> Address:
    """`address` parsed strictly, with `name` made safe as its display name."""
    parsed = parse_address(address, header)
    # One space between words (line breaks in directory data included): runs of white space
    # would fold into blank header lines. Long names are cut so no header line passes RFC 5322's
    # 998 octets.
    flat = _CONTROL.sub(" ", name.replace("\r", " ").replace("\n", " "))
    display = header_safe(" ".join(flat.split())[:MAX_DISPLAY_NAME], header)
    return Address(display_name=display, username=parsed.username, domain=parsed.domain)


def build_letter(
    *,
    from_addr: str,
    to_addr: str,
    to_name: str,
    subject: str,
    text: str,
    message_id: str,
    html: str | None = None,
    language: str | None = None,
    extra_headers: dict[str, str] | None = None,
    more_to: Sequence[tuple[str, str]] = (),
    cc: Sequence[tuple[str, str]] = (),
    reply_to: str | None = None,
) -> EmailMessage:
    """A letter to officials, as multipart/alternative (text, then HTML) or text only. A joint
    letter names its other addressees in `more_to` and its copied recipients in `cc`, as (name,
    address). `reply_to` is a bare address (see `MessageIdentity.reply_to_for`). A letter never
    carries List-Unsubscribe: `extra_headers` naming it is refused (see `build_supporter_mail`)."""
    msg = EmailMessage(policy=POLICY)
    sender = parse_address(from_addr, "From")
    msg["From"] = sender
    msg["To"] = [
        named_address(to_name, to_addr, "To"),
        *(named_address(n, a, "To") for n, a in more_to),
    ]
    if cc:
        msg["Cc"] = [named_address(n, a, "Cc") for n, a in cc]
    if reply_to:
        msg["Reply-To"] = parse_address(reply_to, "Reply-To")
    msg["Subject"] = header_safe(subject, "Subject")
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = header_safe(message_id, "Message-ID")
    for name, value in (extra_headers or {}).items():
        if name.strip().lower().startswith("list-unsubscribe"):
            raise HeaderError(
                f"a letter to officials carries no {name} header; mail to supporters is built "
                f"by build_supporter_mail"
            )
        msg[header_safe(name, "header name")] = header_safe(value, name)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the content: set_content() removes every Content-* header set before it.
    if language:
        msg["Content-Language"] = header_safe(language, "Content-Language")
    return msg


# RFC 3986's characters, less the comma: RFC 2369 wants commas in these URIs encoded, and the
# comma is what separates them in the header.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+;=%]+", re.ASCII)


@dataclass(frozen=True)
class Unsubscribe:
    """Where a supporter unsubscribes: an http(s) URL that unsubscribes on a POST with the body
    `List-Unsubscribe=One-Click` (RFC 8058; receivers only use it over https), and an address
    that unsubscribes whoever writes to it (RFC 2369's mailto). Both carry a signed token."""

    url: str
    mailto: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in {"https", "http"} or not parts.netloc:
            raise HeaderError(f"List-Unsubscribe: {self.url!r} is not an http(s) URL")
        if not _URI_CHARS.fullmatch(self.url):
            raise HeaderError(f"List-Unsubscribe: {self.url!r} has characters to percent-encode")
        address = parse_address(self.mailto, "List-Unsubscribe mailto")
        if not _URI_CHARS.fullmatch(address.addr_spec):
            raise HeaderError(f"List-Unsubscribe: {self.mailto!r} cannot be a mailto URI")

    @property
    def header_value(self) -> str:
        addr_spec = parse_address(self.mailto, "List-Unsubscribe mailto").addr_spec
        return f"<{self.url}>, <mailto:{addr_spec}?subject=unsubscribe>"


def build_supporter_mail(
    *,
    from_addr: str,
    to_addr: str,
    to_name: str,
    subject: str,
    text: str,
    message_id: str,
    unsubscribe: Unsubscribe,
    html: str | None = None,
    language: str | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """Mail to a supporter (a confirmation, an update): a message like a letter's, with
    List-Unsubscribe (the URL, then the mailto address) and `List-Unsubscribe-Post:
    List-Unsubscribe=One-Click`."""
    msg = build_letter(
        from_addr=from_addr,
        to_addr=to_addr,
        to_name=to_name,
        subject=subject,
        text=text,
        message_id=message_id,
        html=html,
        language=language,
        reply_to=reply_to,
    )
    msg["List-Unsubscribe"] = unsubscribe.header_value
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg
