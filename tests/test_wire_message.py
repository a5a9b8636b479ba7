"""The letter written straight to bytes (outreach.mail.wire) is the letter `build_letter` makes.

For generated names, subjects and bodies (non-ASCII, long, control characters, quotes, encoded
words, lines that start with "." or "From ", trailing spaces, very long lines), a mail reader
(the email package's parser, policy.default) sees in the fast bytes the same header values,
addresses, content types, charsets and decoded text and HTML as in `build_letter`'s message; the
same inputs are refused by both; and the bytes are 7-bit, with CRLF line ends only and no line
over 998 octets (header lines within 78 columns). The fast path of `parse_address` finds what
the strict parser finds. A written letter signs with DKIM as it is and verifies.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from outreach.mail.identity import MessageIdentity
from outreach.mail.message import (
    MAX_DISPLAY_NAME,
    HeaderError,
    build_letter,
    header_safe,
    message_bytes,
    named_address,
    parse_address,
)
from outreach.mail.wire import LetterWriter, WireLetter
from outreach.settings import Settings

FROM = "Coalition for Défenders in Exile <letters@coalition.example.org>"
WRITER = LetterWriter(FROM)

# Text as directory data and letters bring it: every script, plus what breaks headers and bodies.
_TRICKY = [
    "=?utf-8?q?Doe=0D=0ABcc:_victim@example.org?=", "=?utf-8?b?DQpCY2M6IHZpY3RpbQ==?=",
    '"', "\\", ",", ";", "<", ">", "@", ":", ".", "(", ")", "[", "]", "'", "=", "?", "_",
    "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\xa0", "\u2060", "—", "É", "ł", "Ω", "中文",
    "🙂", " ", "  ", "From ", "x" * 80, "é" * 40,
]  # fmt: skip
_pieces = st.one_of(st.sampled_from(_TRICKY), st.text(max_size=12))
header_text = st.lists(_pieces, max_size=12).map("".join)
names = st.one_of(header_text, st.text(max_size=MAX_DISPLAY_NAME + 40))
_LINES = [
    ".", "..", ". dot", "From the start", "trailing   ", "tab\t", "=", "=41", "é", "\x0c",
    "\u2028", "a" * 1200, "é" * 500, "", " ", "--=_boundary", "<p>Dear</p>",
]  # fmt: skip
_line = st.one_of(st.sampled_from(_LINES), st.text(max_size=60))
_eol = st.sampled_from(["\n", "\r\n", "\r"])
bodies = st.lists(st.tuples(_line, _eol), max_size=12).map(
    lambda parts: "".join(line + eol for line, eol in parts)
) | st.text(max_size=300)
_local = st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda s: ".." not in s
)
addresses = st.builds(
    lambda local, domain: f"{local}@{domain}",
    _local,
    st.sampled_from(["example.org", "europarl.europa.eu", "mfa.example.gov", "localhost"]),
)
languages = st.sampled_from([None, "en", "de", "fr-BE", "pt"])


def _both(**fields: Any) -> tuple[EmailMessage, bytes] | None:
    """build_letter's parsed message and the wire bytes, or None when both refuse the input."""
    try:
        reference = build_letter(from_addr=FROM, **fields)
        expected = message_bytes(reference)
    except HeaderError:
        with pytest.raises(HeaderError):
            WRITER.letter(**fields)
        return None
    written = WRITER.letter(**fields)
    assert isinstance(written, WireLetter)
    assert written.sender == "letters@coalition.example.org"
    parsed = email.message_from_bytes(expected, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed, written.data


def _read(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects, msg.defects
    return msg


def _check_wire_form(data: bytes) -> None:
    assert data.isascii()
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"\r\n")
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in data.split(b"\r\n"):
        assert len(line) <= 998
    for line in head.split(b"\r\n"):
        assert len(line) <= 78, line
        assert line.strip(), "a blank continuation line"


def _rfc2047_names(header: Any) -> list[str]:
    """The display names of an address header read as RFC 2047 (6.2) says: white space between
    two adjacent encoded words is ignored. Python 3.11's parser keeps it in a display name (not
    in Subject), so it reads a long non-ASCII name split over encoded words with a space at each
    split, in the email package's own output too; this reads its parse tree without that space."""
    names = []
    for address in header._parse_tree.all_mailboxes:  # the parser's tree (private API)
        display = _display_name_token(address)
        names.append("" if display is None else _joined(display))
    return names


def _display_name_token(token: Any) -> Any:
    if getattr(token, "token_type", "") == "display-name":
        return token
    for child in token if isinstance(token, list) else ():
        found = _display_name_token(child)
        if found is not None:
            return found
    return None


def _has_ew(token: Any, at: int) -> bool:
    kids = [k for k in token if k.token_type != "cfws"] if isinstance(token, list) else []
    return bool(kids) and kids[at].token_type == "encoded-word"


def _joined(display: Any) -> str:
    from email._header_value_parser import DisplayName

    words = list(display)
    out = []
    for i, word in enumerate(words):
        if word.token_type == "atom":
            kids = list(word)
            if i + 1 < len(words) and _has_ew(word, -1) and _has_ew(words[i + 1], 0):
                while kids and kids[-1].token_type == "cfws":
                    kids.pop()
            if i > 0 and _has_ew(word, 0) and _has_ew(words[i - 1], -1):
                while kids and kids[0].token_type == "cfws":
                    kids.pop(0)
            word = type(word)(kids)
        out.append(word)
    return str(DisplayName(out).display_name)


_ADDRESS_HEADERS = ("From", "To", "Cc", "Reply-To")
_TEXT_HEADERS = ("Subject", "Message-ID", "MIME-Version", "Content-Language")


def _same_letter(reference: EmailMessage, data: bytes, fields: dict[str, Any]) -> None:
    _check_wire_form(data)
    written = _read(data)
    assert {k.lower() for k in written} == {k.lower() for k in reference}
    asked = {
        "From": [parse_address(FROM, "From")],
        "To": [named_address(fields["to_name"], fields["to_addr"], "To")]
        + [named_address(n, a, "To") for n, a in fields.get("more_to", ())],
        "Cc": [named_address(n, a, "Cc") for n, a in fields.get("cc", ())],
        "Reply-To": [parse_address(fields["reply_to"], "Reply-To")]
        if fields.get("reply_to")
        else [],
    }
    # Compared with what was asked rather than with the email package's reading of its own
    # letter: its folding sometimes loses a space or a whole address (see the test below).
    for name in _ADDRESS_HEADERS:
        if name in reference:
            ours = [(a.username, a.domain) for a in written[name].addresses]
            assert ours == [(a.username, a.domain) for a in asked[name]], name
            assert _rfc2047_names(written[name]) == [a.display_name for a in asked[name]], name
            # Read by Python's parser, the names differ at most by the spaces it adds.
            squeezed = [a.display_name.replace(" ", "") for a in written[name].addresses]
            assert squeezed == [a.display_name.replace(" ", "") for a in asked[name]]
    for name in _TEXT_HEADERS:
        if name != "Subject":
            assert written[name] == reference[name], name
    assert written["Subject"] == header_safe(fields["subject"], "Subject")
    sent = written["Date"].datetime
    assert abs((sent - reference["Date"].datetime).total_seconds()) < 60
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 60
    assert written.get_content_type() == reference.get_content_type()
    ours_parts = list(written.walk())
    theirs_parts = list(reference.walk())
    assert len(ours_parts) == len(theirs_parts)
    for ours, theirs in zip(ours_parts, theirs_parts, strict=True):
        assert ours.get_content_type() == theirs.get_content_type()
        assert ours.get_content_charset() == theirs.get_content_charset()
        assert ours["Content-Transfer-Encoding"] == theirs["Content-Transfer-Encoding"]
        if not ours.is_multipart():
            assert ours.get_content() == theirs.get_content()
    texts = [p.get_content() for p in ours_parts if not p.is_multipart()]
    wanted = [fields["text"]] + ([fields["html"]] if fields.get("html") is not None else [])
    # Line ends become CRLF (CR, LF and CRLF are line ends, as for the email package; a form
    # feed or U+2028 is text), and the text ends with a line end.
    assert [t.replace("\r\n", "\n") for t in texts] == [
        b"".join(line + b"\n" for line in w.encode().splitlines()).decode() or "\n" for w in wanted
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    to_name=names,
    to_addr=addresses,
    subject=header_text,
    text=bodies,
    html=st.none() | bodies,
    language=languages,
    reply_to=st.none() | addresses,
)
@example(
    to_name="Élodie Marchand-Dubois",
    to_addr="elodie@example.org",
    subject="Open letter to Ms Élodie Marchand-Dubois: transnational repression in the EU",
    text="Dear Ms Marchand-Dubois,\n.\nFrom us   \n",
    html="<p>Dear</p>",
    language="en",
    reply_to="replies+r1.abc@example.org",
)
@example(
    to_name="\r\nBcc: victim@example.org",  # a name: flattened to one line by both
    to_addr="mep@example.org",
    subject="s",
    text="t",
    html=None,
    language=None,
    reply_to=None,
)
def test_a_written_letter_reads_as_the_email_package_builds_it(**fields: Any) -> None:
    """For generated fields, either both builders refuse them (`_both` asserts the writer raises
    HeaderError too) or a reader finds the same headers, parts and text in both
    (`_same_letter` asserts each)."""
    both = _both(message_id="<d1.abc@coalition.example.org>", **fields)
    if both is not None:
        _same_letter(*both, {"message_id": "", **fields})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    to=st.lists(st.tuples(names, addresses), min_size=1, max_size=4),
    cc=st.lists(st.tuples(names, addresses), max_size=4),
    subject=header_text,
)
def test_a_joint_letter_names_the_same_addressees_and_copies(
    to: list[tuple[str, str]], cc: list[tuple[str, str]], subject: str
) -> None:
    """A joint letter's To and Cc lists come out with the same names and addresses, in order
    (asserted by `_both` and `_same_letter`, as above)."""
    fields: dict[str, Any] = {
        "to_name": to[0][0],
        "to_addr": to[0][1],
        "more_to": to[1:],
        "cc": cc,
        "subject": subject,
        "text": "Dear all,\n",
        "html": "<p>Dear all,</p>",
        "message_id": "<d2.abc@coalition.example.org>",
    }
    both = _both(**fields)
    if both is not None:
        _same_letter(*both, fields)


def test_where_the_email_package_loses_a_space_or_a_copy_the_written_letter_does_not() -> None:
    """Found by the property tests: Python 3.11's email package folds a long Subject with a run
    of non-ASCII words so that a space is lost, and a Cc list after an encoded name so that the
    comma becomes an encoded word, and the last address is lost. The written letter keeps both."""
    subject = (
        '"""000\x80\x80\x80\x80' + "\U00010000" * 4 + "00\x80\x80\x80\U00010000 \x80\t=?utf-8?q?x?="
    )
    cc = [("", "0@localhost"), ("", "0@localhost"), ("000\x80\x80\x80\U00010000", "0@example.org")]
    cc.append(("", "1@example.org"))
    fields: dict[str, Any] = {
        "to_addr": "0@example.org",
        "to_name": "",
        "cc": cc,
        "subject": subject,
        "text": "t",
        "message_id": "<d6@example.org>",
    }
    theirs = email.message_from_bytes(
        message_bytes(build_letter(from_addr=FROM, **fields)), policy=email.policy.default
    )
    ours = _read(WRITER.letter(**fields).data)
    assert theirs["Subject"] != header_safe(subject, "Subject")
    assert ours["Subject"] == header_safe(subject, "Subject")
    assert [a.addr_spec for a in theirs["Cc"].addresses][-1] != "1@example.org"
    assert [a.addr_spec for a in ours["Cc"].addresses] == [a for _, a in cc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hello\r\nBcc: victim@example.org"),
        ("message_id", "<x@example.org>\r\nBcc: victim@example.org"),
        ("to_addr", "not an address"),
        ("to_addr", "two@example.org, three@example.org"),
        ("to_addr", "josé@example.org"),
        ("to_addr", "jose@exampl\u00e9.org"),  # the email package would write an encoded word
        ("reply_to", "replies@example.org\nBcc: x@example.org"),
    ],
)
def test_header_injection_and_unusable_addresses_are_refused(field: str, value: str) -> None:
    fields: dict[str, Any] = {
        "to_addr": "mep@example.org",
        "to_name": "Ms Example",
        "subject": "On defenders",
        "text": "Dear Ms Example,\n",
        "message_id": "<d3.abc@example.org>",
        field: value,
    }
    with pytest.raises(HeaderError):
        WRITER.letter(**fields)


def test_a_from_that_is_not_one_address_is_refused_for_the_whole_campaign() -> None:
    for bad in ("nobody", "a@example.org, b@example.org", "x@example.org\r\nBcc: y@example.org"):
        with pytest.raises(HeaderError):
            LetterWriter(bad)


def test_encoded_words_in_names_and_subjects_stay_inert() -> None:
    """An encoded word that hides a line break reads back as the literal text, not as CRLF."""
    hidden = "=?utf-8?q?Doe=0D=0ABcc:_victim@example.org?="
    written = _read(
        WRITER.letter(
            to_addr="mep@example.org",
            to_name=hidden,
            subject=hidden,
            text="t",
            message_id="<d4@example.org>",
        ).data
    )
    assert "Bcc" not in written
    assert written["Subject"] == header_safe(hidden, "Subject")
    assert "\n" not in written["To"].addresses[0].display_name
    # A line break in a name from the directory is flattened (as build_letter does), not obeyed.
    flattened = _read(
        WRITER.letter(
            to_addr="mep@example.org",
            to_name="Doe\r\nBcc: victim@example.org",
            subject="s",
            text="t",
            message_id="<d4@example.org>",
        ).data
    )
    assert "Bcc" not in flattened
    assert flattened["To"].addresses[0].display_name == "Doe Bcc: victim@example.org"


@given(
    st.one_of(
        addresses,
        st.from_regex(r"[!-~]{1,30}@[!-~]{1,30}", fullmatch=True),
        st.text(max_size=40),
    )
)
@example("a=?utf-8?q?x?=@example.org")
@example("-a@-example.org")
@example("replies+r1.abc@localhost")
@example("a..b@example.org")
def test_the_fast_path_of_the_address_parser_finds_what_the_strict_parser_finds(
    value: str,
) -> None:
    from outreach.mail import message

    fast = message._PLAIN_ADDRESS.fullmatch(value)
    if fast is None:
        return
    strict = message.email.policy.strict.header_factory("to", value)
    assert not strict.defects
    [address] = strict.addresses
    assert (address.username, address.domain) == (fast["local"], fast["domain"])
    assert (parse_address(value, "To").username, parse_address(value, "To").domain) == (
        address.username,
        address.domain,
    )


def test_a_written_letter_is_signed_as_it_is_and_verifies(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    identity = MessageIdentity.from_settings(
        Settings.from_env(
            {},
            secret_key="0123456789abcdef" * 4,
            dkim_private_key=str(path),
            dkim_selector="sel2026",
            reply_address="replies@coalition.example.org",
        )
    )
    letter = WRITER.letter(
        to_addr="mep@europarl.europa.eu",
        to_name="Ms Élodie Marchand-Dubois",
        subject="Open letter: transnational repression",
        text="Dear Ms Marchand-Dubois,\n.\nA line with a dot.\n",
        html="<p>Dear Ms Marchand-Dubois,</p>",
        message_id="<d5@coalition.example.org>",
        reply_to=identity.reply_to_for(5),
    )
    data = identity.finalize(letter)
    assert data.endswith(letter.data)  # signed as written: a header in front, nothing refolded
    assert data.startswith(b"DKIM-Signature:")
    assert identity.dkim is not None
    record = identity.dkim.key.dns_record().encode()

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"sel2026._domainkey.coalition.example.org." else None

    assert dkim.verify(data, dnsfunc=dns)
    assert not dkim.verify(data.replace(b"Dear Ms", b"Dear Mr"), dnsfunc=dns)
    unsigned = MessageIdentity.from_settings(Settings.from_env({}, secret_key="0" * 64))
    assert unsigned.finalize(letter) == letter.data
