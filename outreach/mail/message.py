"""Building letters as RFC 5322 messages with the SMTP policy.

No header value may carry CR or LF (header injection): every value passes `header_safe`, and the
addresses are parsed strictly. The Message-ID is fixed before sending and stored on the delivery,
so a reply or a bounce can be matched to it. `message_bytes` gives a message's wire form.
"""

from __future__ import annotations

import email.errors
import email.policy
import io
import re
from collections.abc import Sequence
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

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


def parse_address(value: str, name: str) -> Address:
    """Parse "Name <user@example.org>" or a bare address strictly; raise HeaderError if unusable."""
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


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes on the wire (before SMTP's dot-stuffing): CRLF line ends. These
    are the bytes a DKIM signature covers, so signing and sending must both start from them."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=msg.policy.clone(linesep="\r\n")).flatten(msg)
    return buffer.getvalue()


def new_message_id(sender_domain: str) -> str:
    return make_msgid(domain=sender_domain)


def _named(name: str, address: str, header: str) -> Address:
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
) -> EmailMessage:
    """A letter as multipart/alternative (text, then HTML) or text only. A joint letter names
    its other addressees in `more_to` and its copied recipients in `cc`, as (name, address)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    sender = parse_address(from_addr, "From")
    msg["From"] = sender
    msg["To"] = [_named(to_name, to_addr, "To"), *(_named(n, a, "To") for n, a in more_to)]
    if cc:
        msg["Cc"] = [_named(n, a, "Cc") for n, a in cc]
    msg["Subject"] = header_safe(subject, "Subject")
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = header_safe(message_id, "Message-ID")
    for name, value in (extra_headers or {}).items():
        msg[header_safe(name, "header name")] = header_safe(value, name)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the content: set_content() removes every Content-* header set before it.
    if language:
        msg["Content-Language"] = header_safe(language, "Content-Language")
    return msg
