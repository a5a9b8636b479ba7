"""The identity of outgoing mail: signed VERP and reply addresses, DKIM, List-Unsubscribe.

Keys are made in the test (cryptography); DKIM signatures are checked with dkimpy's own verifier,
its DNS look-up answered from the key in hand (no network). The end-to-end test sends through the
real capture server and verifies the bytes it stored.
"""

from __future__ import annotations

import base64
import email
import email.policy
import mailbox
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dkim.util import parse_tag_value
from hypothesis import given
from hypothesis import strategies as st

from outreach.devmail import CaptureServer, read_mailbox
from outreach.mail.dkim_signer import SIGNED_HEADERS, DkimConfigError, DkimKey, main
from outreach.mail.identity import MessageIdentity
from outreach.mail.message import (
    HeaderError,
    Unsubscribe,
    build_letter,
    build_supporter_mail,
    message_bytes,
)
from outreach.mail.tokens import MAX_ID, MAX_TOKEN_LENGTH, TokenSigner
from outreach.mail.transport import SmtpConfig, SmtpTransport
from outreach.settings import Settings

SECRET = "0123456789abcdef" * 4


def settings(**overrides: object) -> Settings:
    """Settings as the process reads them (validated), from nothing but these values."""
    values: dict[str, object] = {"secret_key": SECRET, **overrides}
    return Settings.from_env({}, **values)


def letter(**overrides: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "from_addr": "Coalition for Rights <letters@example.org>",
        "to_addr": "mep@europarl.europa.eu",
        "to_name": "Ms Example MEP",
        "subject": "On the situation of human-rights defenders",
        "text": "Dear Ms Example,\n.\nA line that starts with a dot.\nYours,\n",
        "html": "<p>Dear Ms Example,</p>",
        "message_id": "<d42.1@example.org>",
        "language": "en",
        **overrides,
    }
    return build_letter(**fields)


# --- keys ----------------------------------------------------------------------------------------
def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> dict[str, Path]:
    """PEM files as operators make them: openssl's PKCS#8, the older PKCS#1, and Ed25519."""
    folder = tmp_path_factory.mktemp("dkim")
    pkcs1 = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    files = {
        "rsa-pkcs8": _pem(rsa_key),
        # A key file edited on Windows: dkimpy alone cannot read CRLF PEM.
        "rsa-pkcs1-crlf": pkcs1.replace(b"\n", b"\r\n"),
        "ed25519": _pem(ed25519.Ed25519PrivateKey.generate()),
    }
    paths = {}
    for name, pem in files.items():
        paths[name] = folder / f"{name}.pem"
        paths[name].write_bytes(pem)
    return paths


def dns_for(
    identity: MessageIdentity, selector: str = "sel2026", domain: str = "example.org"
) -> Callable[..., bytes | None]:
    """A dnsfunc for dkimpy that knows one record: the identity's public key."""
    assert identity.dkim is not None
    record = identity.dkim.key.dns_record().encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{selector}._domainkey.{domain}.".encode() else None

    return lookup


def signed_identity(key: Path, **overrides: object) -> MessageIdentity:
    return MessageIdentity.from_settings(
        settings(dkim_private_key=str(key), dkim_selector="sel2026", **overrides)
    )


# --- signed tokens -------------------------------------------------------------------------------
def test_a_token_names_its_id_in_short_lowercase_text() -> None:
    signer = TokenSigner(SECRET, "bounce")
    token = signer.sign(123)
    assert re.fullmatch(r"b123\.[a-z2-7]{16}", token)
    assert signer.verify(token) == 123
    assert len(signer.sign(MAX_ID)) == MAX_TOKEN_LENGTH == 37


def test_a_token_survives_an_mta_that_changes_its_case() -> None:
    signer = TokenSigner(SECRET, "bounce")
    assert signer.verify(signer.sign(77).upper()) == 77


@given(st.integers(min_value=0, max_value=MAX_ID), st.data())
def test_any_altered_character_makes_a_token_invalid(row_id: int, data: st.DataObject) -> None:
    """Changing one character of a token (to another that is not its other case) never yields
    a valid token, for this id or any other."""
    signer = TokenSigner(SECRET, "reply")
    token = signer.sign(row_id)
    i = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789.").filter(
            lambda c: c != token[i].lower()
        )
    )
    assert signer.verify(token[:i] + replacement + token[i + 1 :]) is None


def test_a_token_of_one_purpose_or_secret_is_refused_by_another() -> None:
    """A reply token cannot be replayed as a bounce, even with its letter changed; a token made
    with another secret key is refused."""
    reply = TokenSigner(SECRET, "reply").sign(5)
    bounce = TokenSigner(SECRET, "bounce")
    assert bounce.verify(reply) is None
    assert bounce.verify("b" + reply[1:]) is None
    assert TokenSigner("another secret", "bounce").verify(bounce.sign(5)) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "b",
        "b5",
        "b5.",
        "b05.aaaaaaaaaaaaaaaa",
        "b\u0665.aaaaaaaaaaaaaaaa",
        "x" * 10_000,
        None,
        5,
    ],
)
def test_garbage_is_not_a_token(garbage: object) -> None:
    assert TokenSigner(SECRET, "bounce").verify(garbage) is None


def test_only_the_canonical_spelling_of_an_id_verifies() -> None:
    """Leading zeros or non-ASCII digits would give one id several tokens: refused."""
    signer = TokenSigner(SECRET, "bounce")
    mac = signer.sign(5).split(".")[1]
    assert signer.verify(f"b5.{mac}") == 5
    assert signer.verify(f"b05.{mac}") is None


@pytest.mark.parametrize("bad", [-1, MAX_ID + 1, True, "5", 5.0])
def test_only_row_ids_are_signed(bad: object) -> None:
    with pytest.raises(ValueError, match="row id"):
        TokenSigner(SECRET, "bounce").sign(bad)


# --- VERP and reply addresses --------------------------------------------------------------------
def test_the_return_path_names_the_delivery_within_the_local_part_limit() -> None:
    identity = MessageIdentity.from_settings(settings())
    address = identity.return_path_for(123)
    assert re.fullmatch(r"bounces\+b123\.[a-z2-7]{16}@localhost", address)
    assert identity.delivery_for_bounce(address) == 123
    longest = identity.return_path_for(MAX_ID)
    assert len(longest.split("@")[0]) <= 64


@pytest.mark.parametrize(
    "shape",
    ["{a}", "<{a}>", "  <{a}>  ", "Mail Delivery <{a}>", "{A}", "{a}."],
)
def test_a_bounce_address_is_recognised_in_the_forms_mtas_write_it(shape: str) -> None:
    identity = MessageIdentity.from_settings(settings(return_path="bounces@example.org"))
    address = identity.return_path_for(9)
    assert identity.delivery_for_bounce(shape.format(a=address, A=address.upper())) == 9


def test_foreign_and_forged_bounce_addresses_name_no_delivery() -> None:
    identity = MessageIdentity.from_settings(settings(return_path="bounces@example.org"))
    good = identity.return_path_for(9)
    token = good.split("+")[1].split("@")[0]
    mac = token.split(".")[1]
    for address in [
        f"bounces+{token}@example.net",  # another domain
        f"other+{token}@example.org",  # another mailbox
        "bounces@example.org",  # no token
        f"bounces+b10.{mac}@example.org",  # the id changed, the MAC kept
        identity.reply_to_for(9),  # a reply token at its own address
        f"bounces+{identity.reply_to_for(9).split('+')[1]}",  # a reply token at the bounce address
        "not an address",
        "@",
        "bounces+@example.org",
    ]:
        assert identity.delivery_for_bounce(address) is None, address


@given(st.text(max_size=200))
def test_no_input_makes_the_address_parser_raise(text: str) -> None:
    identity = MessageIdentity.from_settings(settings())
    assert identity.delivery_for_bounce(text) is None
    assert identity.delivery_for_reply(text) is None
    assert identity.supporter_for_unsubscribe(text) is None


def test_replies_are_routed_by_their_own_token() -> None:
    identity = MessageIdentity.from_settings(
        settings(reply_address="Replies <replies@example.org>")
    )
    reply_to = identity.reply_to_for(31)
    assert reply_to is not None
    assert re.fullmatch(r"replies\+r31\.[a-z2-7]{16}@example\.org", reply_to)
    assert identity.delivery_for_reply(reply_to) == 31
    assert identity.delivery_for_bounce(reply_to) is None


def test_an_empty_reply_address_means_no_reply_to() -> None:
    identity = MessageIdentity.from_settings(settings(reply_address=""))
    assert identity.reply_to_for(31) is None
    assert identity.delivery_for_reply("replies+r31.aaaaaaaaaaaaaaaa@localhost") is None
    assert "Reply-To" not in letter(reply_to=identity.reply_to_for(31))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"return_path": "a-very-long-mailbox-name-for-bounces@example.org"}, "too long"),
        ({"reply_address": "replies+x@example.org"}, "already has a '\\+'"),
        ({"reply_address": "not an address"}, "OUTREACH_REPLY_ADDRESS"),
        ({"secret_key": ""}, "OUTREACH_SECRET_KEY"),
    ],
)
def test_unusable_bases_are_refused_at_start(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MessageIdentity.from_settings(Settings(**{"secret_key": SECRET, **overrides}))


# --- DKIM ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("key_name", ["rsa-pkcs8", "rsa-pkcs1-crlf", "ed25519"])
def test_a_finalized_message_carries_a_valid_dkim_signature(
    keys: dict[str, Path], key_name: str
) -> None:
    identity = signed_identity(keys[key_name])
    data = identity.finalize(letter(reply_to=identity.reply_to_for(42)))
    assert data.startswith(b"DKIM-Signature: v=1; a=")
    assert dkim.verify(data, dnsfunc=dns_for(identity))
    fields = parse_tag_value(
        email.message_from_bytes(data, policy=email.policy.SMTP)["DKIM-Signature"].encode()
    )
    assert fields[b"c"] == b"relaxed/relaxed"
    assert fields[b"d"] == b"example.org"  # the From domain, OUTREACH_DKIM_DOMAIN being unset
    assert fields[b"s"] == b"sel2026"
    assert fields[b"a"] == (b"ed25519-sha256" if key_name == "ed25519" else b"rsa-sha256")
    signed = [h.strip() for h in fields[b"h"].decode().split(":")]
    assert signed == list(SIGNED_HEADERS)
    assert signed.count("from") == 2  # over-signed: a second From cannot be added
    assert {
        "from", "to", "cc", "reply-to", "subject", "date", "message-id", "mime-version",
        "content-type", "content-language", "list-unsubscribe", "list-unsubscribe-post",
    } <= set(signed)  # fmt: skip


def test_the_signature_breaks_when_a_signed_header_or_the_body_changes_or_a_header_is_added(
    keys: dict[str, Path],
) -> None:
    """Subject and body are covered; a Reply-To or a second From added after signing (absent when
    signed) breaks the signature too, since every listed header is signed even when absent."""
    identity = signed_identity(keys["rsa-pkcs8"])
    data = identity.finalize(letter())
    dns = dns_for(identity)
    assert dkim.verify(data, dnsfunc=dns)
    header_end = data.index(b"\r\n\r\n")
    tampered = [
        data.replace(b"Subject: On the situation", b"Subject: On the situatiom"),
        data.replace(b"A line that starts", b"A line that stArts"),
        data[:header_end] + b"\r\nReply-To: attacker@example.net" + data[header_end:],
        data[:header_end] + b"\r\nFrom: attacker@example.net" + data[header_end:],
    ]
    for changed in tampered:
        assert changed != data
        assert not dkim.verify(changed, dnsfunc=dns)


def test_the_configured_dkim_domain_is_the_d_tag(keys: dict[str, Path]) -> None:
    identity = signed_identity(keys["ed25519"], dkim_domain="Mail.Example.org")
    data = identity.finalize(letter())
    assert b"d=mail.example.org;" in data
    assert dkim.verify(data, dnsfunc=dns_for(identity, domain="mail.example.org"))


def test_without_a_key_finalize_gives_the_message_bytes_unsigned() -> None:
    identity = MessageIdentity.from_settings(settings())
    msg = letter()
    assert identity.dkim is None
    assert identity.finalize(msg) == message_bytes(msg)
    assert b"DKIM-Signature" not in identity.finalize(msg)


def test_dkim_settings_that_cannot_work_stop_the_process_at_start(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    """Each error names the variable and says what is wrong."""
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("ssh-ed25519 AAAA… (a public key, not a private one)\n")
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    cases = [
        (
            {"dkim_private_key": str(tmp_path / "missing.pem"), "dkim_selector": "s"},
            "cannot be read",
        ),
        ({"dkim_private_key": str(tmp_path), "dkim_selector": "s"}, "cannot be read"),
        ({"dkim_private_key": str(not_pem), "dkim_selector": "s"}, "not a PEM private key"),
        ({"dkim_private_key": str(encrypted), "dkim_selector": "s"}, "is encrypted"),
        ({"dkim_private_key": str(ec_key), "dkim_selector": "s"}, "RSA or Ed25519"),
        ({"dkim_private_key": str(keys["ed25519"])}, "OUTREACH_DKIM_SELECTOR is not"),
        ({"dkim_selector": "s"}, "OUTREACH_DKIM_PRIVATE_KEY is not"),
        ({"dkim_domain": "example.org"}, "OUTREACH_DKIM_PRIVATE_KEY is not"),
        ({"dkim_private_key": str(keys["ed25519"]), "dkim_selector": "a b"}, "not a DNS name"),
        (
            {"dkim_private_key": str(keys["ed25519"]), "dkim_selector": "s", "dkim_domain": "x"},
            "OUTREACH_DKIM_DOMAIN='x' is not a domain name",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(DkimConfigError, match=message):
            MessageIdentity.from_settings(settings(**overrides))


def test_an_rsa_key_under_1024_bits_is_refused() -> None:
    """RFC 8301: receivers refuse them, so every letter would fail DKIM. (cryptography will not
    generate one: this one is made from two fixed 256-bit primes.)"""
    p = 0xEF4DD2E58B3475C00195B0FAE6E80BD37667EE1ACF3BB3D76B0D0F797EBFFE27
    q = 0xC64DA8BAF0E10BDEDE0404FECA1EF34E46192CC85B8918ADDF9D2C6DAD3FCF23
    d = rsa.rsa_recover_private_exponent(65537, p, q)
    small = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(65537, p * q),
    ).private_key()
    with pytest.raises(DkimConfigError, match="512-bit RSA key"):
        DkimKey.from_pem(_pem(small))


def test_the_dns_record_is_printed_for_the_operator(
    keys: dict[str, Path], rsa_key: rsa.RSAPrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m outreach.mail.dkim_signer KEY SELECTOR DOMAIN`: the zone file line, split in
    strings of at most 255 characters, whose text is the public key that verifies."""
    assert main([str(keys["rsa-pkcs8"]), "sel2026", "example.org"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("sel2026._domainkey.example.org. IN TXT ( ")
    strings = re.findall(r'"([^"]*)"', line)
    assert all(len(s) <= 255 for s in strings)
    assert len(strings) > 1  # a 2048-bit key's record is longer than one string
    public_der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    joined = "".join(strings)
    assert joined.startswith("v=DKIM1; k=rsa; p=")
    assert base64.b64decode(joined.split("p=")[1]) == public_der


# --- List-Unsubscribe: supporters yes, officials no ------------------------------------------------
def test_supporter_mail_carries_one_click_unsubscribe_and_it_is_signed(
    keys: dict[str, Path],
) -> None:
    identity = signed_identity(
        keys["rsa-pkcs8"],
        base_url="https://outreach.example.org/",
        reply_address="replies@example.org",
    )
    unsubscribe = identity.unsubscribe_for(8)
    msg = build_supporter_mail(
        from_addr="Coalition for Rights <letters@example.org>",
        to_addr="supporter@example.net",
        to_name="A Supporter",
        subject="Please confirm your signature",
        text="Click to confirm.",
        message_id="<s8.1@example.org>",
        unsubscribe=unsubscribe,
    )
    data = identity.finalize(msg)
    sent = email.message_from_bytes(data, policy=email.policy.default)
    header = re.fullmatch(r"<([^>]+)>, <([^>]+)>", sent["List-Unsubscribe"])
    assert header is not None
    url, mailto = header.groups()
    assert re.fullmatch(r"https://outreach\.example\.org/unsubscribe/u8\.[a-z2-7]{16}", url)
    assert re.fullmatch(
        r"mailto:replies\+u8\.[a-z2-7]{16}@example\.org\?subject=unsubscribe", mailto
    )
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The URL and the mailto lead back to the supporter; neither is a reply or a bounce.
    assert identity.supporter_for_unsubscribe(url.rsplit("/", 1)[1]) == 8
    assert identity.supporter_for_unsubscribe(mailto[len("mailto:") :].split("?")[0]) == 8
    assert identity.delivery_for_reply(mailto[len("mailto:") :].split("?")[0]) is None
    # RFC 8058: both headers must be covered by the signature.
    assert dkim.verify(data, dnsfunc=dns_for(identity))
    assert not dkim.verify(
        data.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=One-Clack"),
        dnsfunc=dns_for(identity),
    )
    # The URIs stay URIs: never folded into encoded words, however long.
    assert b"=?utf-8?" not in data.split(b"\r\n\r\n")[0].split(b"List-Unsubscribe:")[1]


def test_letters_to_officials_carry_no_unsubscribe_header_and_refuse_one() -> None:
    msg = letter()
    assert "List-Unsubscribe" not in msg
    assert "List-Unsubscribe-Post" not in msg
    assert b"List-Unsubscribe" not in message_bytes(msg)
    for name in ("List-Unsubscribe", "list-unsubscribe-post"):
        with pytest.raises(HeaderError, match="carries no"):
            letter(extra_headers={name: "<https://example.org/u>"})


@pytest.mark.parametrize(
    ("url", "mailto"),
    [
        ("javascript:alert(1)", "u@example.org"),
        ("https://example.org/u?a=1,2", "u@example.org"),  # a comma would split the header
        ("https://example.org/u>, <https://evil.example", "u@example.org"),
        ("https://example.org/u", "u@example.org\r\nBcc: x@example.net"),
        ("https://example.org/u", "not an address"),
    ],
)
def test_unsubscribe_targets_that_would_break_the_header_are_refused(url: str, mailto: str) -> None:
    with pytest.raises(HeaderError):
        Unsubscribe(url=url, mailto=mailto)


# --- end to end ----------------------------------------------------------------------------------
def test_a_letter_reaches_the_smtp_server_signed_with_its_verp_sender_and_reply_to(
    smtp_server: CaptureServer, keys: dict[str, Path]
) -> None:
    """Built, finalized and sent as the worker will: the capture server stores bytes whose DKIM
    signature verifies, from an envelope sender that names the delivery, with a Reply-To that
    names it too; the dot line survived dot-stuffing inside the signed body."""
    identity = signed_identity(keys["rsa-pkcs8"], reply_address="replies@example.org")
    delivery_id = 4242
    msg = letter(reply_to=identity.reply_to_for(delivery_id))
    transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url))
    outcome = transport.send(
        identity.finalize(msg),
        envelope_from=identity.return_path_for(delivery_id),
        recipient="mep@europarl.europa.eu",
    )
    transport.close()
    assert outcome.kind == "sent"
    [captured] = read_mailbox(smtp_server.handler.maildir)
    assert identity.delivery_for_bounce(captured.envelope_from) == delivery_id
    assert identity.delivery_for_reply(str(captured.message["Reply-To"])) == delivery_id
    raw = mailbox.Maildir(smtp_server.handler.maildir, create=False).get_bytes(captured.key)
    assert dkim.verify(raw, dnsfunc=dns_for(identity))
    assert "\n.\nA line that starts with a dot." in captured.body_text
