"""Reading hostile mail without raising: headers, addresses, text parts and message ids.

Inbound mail is parsed with the `compat32` policy: it never raises while parsing or when a header
is read (the modern policy can, on malformed headers), and it is the Message API flufl.bounce
expects. Every helper here returns an empty value rather than raising, so that one odd message
cannot stop the pipeline; the pipeline still wraps the whole processing in a try (see process.py).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Final

MAX_TEXT: Final = 200_000  # characters of one text part we look at; the raw bytes keep the rest
MAX_KEY: Final = 255
# Trace headers added on the way in: a message redelivered by another path differs only in these,
# so they are left out of the digest that stands in for a missing Message-ID.
TRACE_HEADERS: Final = frozenset(
    {
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-outreach-envelope-from",
        "x-outreach-envelope-to",
    }
)
_MSGID = re.compile(r"<([^<>\s]{1,250})>")
_TAG = re.compile(r"<[^>]*>")
_BLOCK_END = re.compile(r"</(p|div|tr|li|h\d|blockquote)>|<br\s*/?>", re.IGNORECASE)
_DROP = re.compile(r"<(style|script|head)\b.*?</\1>", re.IGNORECASE | re.DOTALL)


def parse(raw: bytes) -> Message:
    """The message object of raw bytes (never raises on malformed input)."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def header(msg: Message, name: str) -> str:
    """A header's value with RFC 2047 words decoded and whitespace unfolded; '' if absent."""
    try:
        value = msg.get(name)
        if value is None:
            return ""
        text = str(make_header(decode_header(str(value))))
    except Exception:  # a broken encoded word: the undecoded value is better than nothing
        try:
            text = str(msg.get(name, ""))
        except Exception:
            return ""
    return " ".join(text.split())


def address(value: str) -> str:
    """The bare address of `Name <a@b>` (lower-cased domain), or ''."""
    try:
        addr = parseaddr(value)[1]
    except Exception:
        return ""
    local, at, domain = addr.rpartition("@")
    return f"{local}@{domain.lower()}" if at and local and domain else ""


def addresses(values: list[str]) -> list[str]:
    try:
        pairs = getaddresses(values)
    except Exception:
        return []
    out = []
    for _, addr in pairs:
        bare = address(addr)
        if bare and bare not in out:
            out.append(bare)
    return out


def message_ids(value: str) -> list[str]:
    """The `<id>`s in a Message-ID, In-Reply-To or References value, with their brackets."""
    return [f"<{m}>" for m in _MSGID.findall(value or "")]


def message_key(msg: Message, raw: bytes) -> str:
    """The unique key of a stored message: its Message-ID, else a digest of its content."""
    ids = message_ids(header(msg, "Message-ID"))
    if ids and len(ids[0]) <= MAX_KEY:
        return ids[0]
    digest = hashlib.sha256()
    head, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    for line in re.split(rb"\r?\n(?![ \t])", head):
        name = line.split(b":", 1)[0].strip().lower()
        if name.decode("ascii", "replace") not in TRACE_HEADERS:
            digest.update(line.strip() + b"\n")
    digest.update(b"\n" + body.replace(b"\r\n", b"\n"))
    return "sha256:" + digest.hexdigest()


def part_text(part: Message) -> str:
    """The decoded text of a non-multipart part (HTML reduced to text), '' if it has none."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw[:MAX_TEXT] if isinstance(raw, str) else ""
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
        text = payload[: MAX_TEXT * 4].decode(charset, errors="replace")
    except (LookupError, ValueError):
        text = payload[: MAX_TEXT * 4].decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return text[:MAX_TEXT].replace("\r\n", "\n")


def html_to_text(markup: str) -> str:
    """Enough of an HTML body's text to classify it and show a reply (not a renderer)."""
    markup = _DROP.sub(" ", markup)
    markup = _BLOCK_END.sub("\n", markup)
    text = html.unescape(_TAG.sub("", markup))
    return "\n".join(line.strip() for line in text.splitlines())


def walk(msg: Message, limit: int = 200) -> Iterator[Message]:
    """The parts of a message, at most `limit` of them (a bomb of nested parts stops here)."""
    for count, part in enumerate(msg.walk()):
        if count >= limit:
            return
        yield part


def body_text(msg: Message, *, skip_attached: bool = True) -> str:
    """The message's own readable text: the first text/plain part (else text/html), leaving out
    attached messages (a bounce's returned letter, a reply's forwarded one) when asked."""
    plain: str | None = None
    html_text: str | None = None
    inside_attached: set[int] = set()
    for part in walk(msg):
        if part.get_content_type() in {"message/rfc822", "text/rfc822-headers"}:
            inside_attached.update(id(p) for p in _descendants(part))
            continue
        if skip_attached and id(part) in inside_attached:
            continue
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = part_text(part)
        elif ctype == "text/html" and html_text is None:
            html_text = part_text(part)
    return plain if plain is not None and plain.strip() else (html_text or plain or "")


def _descendants(part: Message) -> Iterator[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                yield from walk(sub)
    elif isinstance(payload, Message):
        yield from walk(payload)
