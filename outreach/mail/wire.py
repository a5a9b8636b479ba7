"""Letters to officials written straight in their wire form: the bytes DKIM signs and SMTP sends.

Why this exists: building a letter as an `EmailMessage` and flattening it (`build_letter`, then
`message_bytes`) took about 4 ms of a worker's CPU a letter, half of all it did, while rendering
the letter took 0.3 ms. The email package builds an object tree, parses every header value it is
given back into tokens, refolds them and walks the tree again to write it out. A campaign's
letters all have the same shape (multipart/alternative: a quoted-printable text part, then the
HTML), so this module writes that shape directly: what is the same for every copy (From, the
MIME headers, the boundary) once per campaign in `LetterWriter`, and per copy only the
recipients, Subject, Date, Message-ID and the two parts (quoted-printable by `binascii`, in C).

It gives every guarantee `build_letter` gives, with the same helpers: every value passes
`header_safe` (a CR or LF is refused, other control characters and runs of white space become one
space, RFC 2047 encoded words in the value are made inert), addresses are parsed strictly by
`parse_address`, display names are cut to `MAX_DISPLAY_NAME`, and there is no way to add a header
(no List-Unsubscribe on a letter: see `build_letter`). What it writes:

* non-ASCII header text as RFC 2047 encoded words (UTF-8, "Q" encoding restricted to the
  characters allowed in a display name), folded at spaces so that lines stay within 78 columns;
  an ASCII word too long to fit a line is encoded too, so that it can be split;
* an address whose address part is not ASCII is refused (the email package would write an
  encoded word into the domain, which no mail server can deliver to);
* CRLF line ends only, no line over 998 octets (quoted-printable lines are at most 76).

`build_letter` stays the readable reference (it also builds test sends and mail to supporters);
tests/test_wire_message.py proves, for generated names, subjects and bodies, that a mail reader
parsing these bytes sees the same headers, parts and text as in `build_letter`'s message.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import format_datetime

from contacts.base import utcnow
from outreach.mail.message import HeaderError, header_safe, named_address, parse_address

MAX_LINE = 78  # RFC 5322's SHOULD; header lines are folded at spaces to stay within it
MAX_WORD = 66  # an ASCII word longer than this could not fit a line: encoded, to be split
_EW_TEXT = 52  # encoded characters in one encoded word: "=?utf-8?q?" + 52 + "?=" = 64 columns
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*", re.ASCII)  # atoms and the spaces between
# RFC 2047's "Q" encoding, with only the characters allowed in an encoded word of a display name.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = tuple(chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in range(256))


@dataclass(frozen=True)
class WireLetter:
    """A letter's bytes (CRLF line ends, not yet dot-stuffed) and the address of its From
    (for the d= domain of a DKIM signature: see `MessageIdentity.finalize`)."""

    data: bytes
    sender: str


def _encoded_words(text: str) -> Iterator[str]:
    """`text` as encoded words of at most 64 columns, never splitting a character (a reader
    joins adjacent encoded words, dropping the white space between them)."""
    chunk: list[str] = []
    size = 0
    for char in text:
        code = ord(char)
        q = _Q_BYTE[code] if code < 128 else "".join(_Q_BYTE[b] for b in char.encode("utf-8"))
        if size + len(q) > _EW_TEXT:
            yield "=?utf-8?q?" + "".join(chunk) + "?="
            chunk, size = [], 0
        chunk.append(q)
        size += len(q)
    if chunk:
        yield "=?utf-8?q?" + "".join(chunk) + "?="


def _plain(word: str) -> bool:
    return word.isascii() and len(word) <= MAX_WORD


def _text_tokens(value: str) -> Iterator[str]:
    """An unstructured value (after `header_safe`: single spaces, none at either end) as the
    tokens of its header: ASCII words as they are; each run of other words as encoded words,
    the spaces inside the run encoded with it (the spaces around a run stay literal)."""
    run: list[str] = []
    for word in value.split(" ") if value else ():
        if _plain(word):
            if run:
                yield from _encoded_words(" ".join(run))
                run = []
            yield word
        else:
            run.append(word)
    if run:
        yield from _encoded_words(" ".join(run))


def _address_tokens(address: Address) -> list[str]:
    """`Name <local@domain>` as header tokens; a bare address without a display name. A name of
    atoms stays as it is, one with specials (a comma, a dot, quotes) becomes a quoted string;
    other words are encoded as in Subject, or the whole name when it also has specials."""
    addr_spec = address.addr_spec
    if not addr_spec.isascii():
        raise HeaderError(f"{addr_spec!r} is not an ASCII address: it cannot be sent as it is")
    name = address.display_name
    if not name:
        return [addr_spec]
    words = name.split(" ")
    if all(_ATEXT.fullmatch(word) for word in words if _plain(word)):
        tokens = list(_text_tokens(name))
    elif all(_plain(word) for word in words):  # a quoted string, folded at its spaces
        tokens = ('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")
    else:
        tokens = list(_encoded_words(name))
    return [*tokens, f"<{addr_spec}>"]


def _address_list(addresses: Sequence[Address]) -> Iterator[str]:
    for number, address in enumerate(addresses, 1):
        tokens = _address_tokens(address)
        if number < len(addresses):
            tokens[-1] += ","
        yield from tokens


def _header(name: str, tokens: Iterable[str]) -> str:
    """`Name: tokens` with a space between tokens, folded before a token that would pass
    MAX_LINE columns (a token is never cut, and a continuation line is never blank)."""
    lines: list[str] = []
    line = name + ":"
    first = True
    for token in tokens:
        if not first and len(line) + 1 + len(token) > MAX_LINE:
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
        first = False
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _quoted_printable(text: str) -> bytes:
    """A text part's body: its lines (split as the email package splits them: CR, LF or CRLF)
    ended by CRLF, quoted-printable (trailing white space and a lone "." encoded; lines of at
    most 76 octets)."""
    lines = text.encode("utf-8").splitlines()
    return binascii.b2a_qp(b"\r\n".join(lines) + b"\r\n", istext=True)


_TEXT_PART = b'Content-Type: text/plain; charset="utf-8"\r\n'
_HTML_PART = b'Content-Type: text/html; charset="utf-8"\r\n'
_QP = b"Content-Transfer-Encoding: quoted-printable\r\n"


class LetterWriter:
    """Writes the letters of one sender (a campaign's From): made once, then `letter()` per copy.

    Raises HeaderError for a From that is not one usable address. Thread-safe (immutable)."""

    def __init__(self, from_addr: str) -> None:
        sender = parse_address(from_addr, "From")
        self.sender = sender.addr_spec
        self._from = _header("From", _address_tokens(sender))
        # "=_" can never occur in quoted-printable text ("=" is always followed by two hex
        # digits or a line end there), so one boundary serves every copy without a search.
        boundary = "=_" + secrets.token_hex(12)
        self._multipart = (
            f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n'
        )
        self._single = f"MIME-Version: 1.0\r\n{_TEXT_PART.decode()}{_QP.decode()}"
        self._delimiter = f"\r\n--{boundary}\r\n".encode()
        self._close = f"\r\n--{boundary}--\r\n".encode()
        self._languages: dict[str, str] = {}

    def _language(self, language: str) -> str:
        if language not in self._languages:
            value = header_safe(language, "Content-Language")
            self._languages[language] = _header("Content-Language", _text_tokens(value))
        return self._languages[language]

    def letter(
        self,
        *,
        to_addr: str,
        to_name: str,
        subject: str,
        text: str,
        message_id: str,
        html: str | None = None,
        language: str | None = None,
        more_to: Sequence[tuple[str, str]] = (),
        cc: Sequence[tuple[str, str]] = (),
        reply_to: str | None = None,
        in_reply_to: str | None = None,
    ) -> WireLetter:
        """The letter `build_letter` makes from the same arguments, as its wire bytes; with
        `in_reply_to` (a follow-up), In-Reply-To and References name that message."""
        to = [named_address(to_name, to_addr, "To")]
        to += [named_address(n, a, "To") for n, a in more_to]
        head = [self._from, _header("To", _address_list(to))]
        if cc:
            head.append(_header("Cc", _address_list([named_address(n, a, "Cc") for n, a in cc])))
        if reply_to:
            head.append(_header("Reply-To", _address_tokens(parse_address(reply_to, "Reply-To"))))
        head.append(_header("Subject", _text_tokens(header_safe(subject, "Subject"))))
        head.append(f"Date: {format_datetime(utcnow())}\r\n")
        message_id = header_safe(message_id, "Message-ID")
        if not message_id.isascii() or " " in message_id or len(message_id) > 900:
            raise HeaderError(f"Message-ID: {message_id!r} is not a message id")
        head.append(f"Message-ID: {message_id}\r\n")
        if in_reply_to:
            parent = header_safe(in_reply_to, "In-Reply-To")
            if not parent.isascii() or " " in parent or len(parent) > 900:
                raise HeaderError(f"In-Reply-To: {parent!r} is not a message id")
            head.append(f"In-Reply-To: {parent}\r\nReferences: {parent}\r\n")
        head.append(self._multipart if html is not None else self._single)
        if language:
            head.append(self._language(language))
        head.append("\r\n")
        data = "".join(head).encode("ascii")
        if html is None:
            return WireLetter(data + _quoted_printable(text), self.sender)
        body = b"".join(
            [
                self._delimiter[2:],
                _TEXT_PART,
                _QP,
                b"\r\n",
                _quoted_printable(text),
                self._delimiter,
                _HTML_PART,
                _QP,
                b"\r\n",
                _quoted_printable(html),
                self._close,
            ]
        )
        return WireLetter(data + body, self.sender)
