"""The SMTP transport classifies every outcome by how far the conversation got.

Each test talks to the real capture server (aiosmtpd) with a fault switched on, and checks both
the outcome and what the server really stored.
"""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.devmail import CaptureServer, read_mailbox
from outreach.mail.message import build_letter, message_bytes
from outreach.mail.transport import SmtpConfig, SmtpTransport, _dot_stuffed
from tests.conftest import free_port


def _letter(n: int = 1) -> object:
    return build_letter(
        from_addr="Coalition <letters@example.org>",
        to_addr=f"mep{n}@example.org",
        to_name=f"MEP {n}",
        subject="A letter",
        text="Dear Member,\n.\nA line that starts with a dot must survive.\n",
        message_id=f"<letter-{n}@example.org>",
    )


def _send(transport: SmtpTransport, n: int = 1):  # type: ignore[no-untyped-def]
    return transport.send(_letter(n), "bounces@example.org", f"mep{n}@example.org")  # type: ignore[arg-type]


def test_accepted_messages_share_one_connection_and_arrive_intact(
    smtp_server: CaptureServer,
) -> None:
    """Three letters go over one connection; the server stores them byte-faithfully (dot lines)."""
    transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url))
    outcomes = [_send(transport, n) for n in (1, 2, 3)]
    transport.close()
    assert [o.kind for o in outcomes] == ["sent", "sent", "sent"]
    assert transport.connections_opened == 1
    stored = read_mailbox(smtp_server.handler.maildir)
    assert sorted(m.envelope_to[0] for m in stored) == [f"mep{n}@example.org" for n in (1, 2, 3)]
    assert all("\n.\nA line that starts with a dot" in m.body_text for m in stored)


def test_message_bytes_are_sent_byte_for_byte(smtp_server: CaptureServer) -> None:
    """Bytes (a DKIM-signed message) reach the server exactly as given, dot lines included; bare
    LF line ends become CRLF, as SMTP requires, and nothing else changes."""
    data = message_bytes(_letter())  # type: ignore[arg-type]
    signed_looking = b"X-Signed: exactly these bytes\r\n" + data
    transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url))
    first = transport.send(signed_looking, "bounces@example.org", "mep1@example.org")
    second = transport.send_to_all(
        signed_looking.replace(b"\r\n", b"\n"), "bounces@example.org", ["mep2@example.org"]
    )
    transport.close()
    assert first.kind == second["mep2@example.org"].kind == "sent"
    box = mailbox.Maildir(smtp_server.handler.maildir, create=False)
    stored = [box.get_bytes(m.key) for m in read_mailbox(smtp_server.handler.maildir)]
    # The capture server puts its two envelope lines in front of what it received.
    received = [raw.split(b"\r\n", 2)[2] for raw in stored]
    assert received == [signed_looking, signed_looking]
    assert b"\r\n.\r\nA line that starts with a dot" in received[0]


def test_a_5xx_is_permanent_and_nothing_is_stored(smtp_server: CaptureServer) -> None:
    smtp_server.handler.set_fault("550 5.7.1 Message rejected as spam", count=1)
    transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url))
    outcome = _send(transport)
    after = _send(transport, 2)
    transport.close()
    assert (outcome.kind, outcome.code) == ("permanent", 550)
    assert "rejected as spam" in outcome.text
    assert after.kind == "sent"  # the connection was reset and stays usable
    assert [m.envelope_to for m in read_mailbox(smtp_server.handler.maildir)] == [
        ["mep2@example.org"]
    ]


def test_a_4xx_is_temporary(smtp_server: CaptureServer) -> None:
    smtp_server.handler.set_fault("451 4.3.0 Try again later", count=1)
    transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url))
    outcome = _send(transport)
    transport.close()
    assert (outcome.kind, outcome.code) == ("temporary", 451)
    assert read_mailbox(smtp_server.handler.maildir) == []


def test_a_connection_lost_after_data_is_uncertain_not_retryable(
    smtp_server: CaptureServer,
) -> None:
    """The server took the whole message and hung up without answering: the sender cannot know
    whether the letter was accepted, so the outcome is `uncertain` (never silently retried)."""
    smtp_server.handler.set_fault("disconnect", count=1)
    transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url, timeout=5))
    outcome = _send(transport)
    transport.close()
    assert outcome.kind == "uncertain"
    assert "no answer after DATA" in outcome.text


def test_a_relay_that_is_down_is_temporary(tmp_path: Path) -> None:
    """Nothing listens on the port: retry later, nothing about the recipient is concluded."""
    transport = SmtpTransport(SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=2))
    outcome = _send(transport)
    assert outcome.kind == "temporary"
    assert outcome.text.startswith("relay:")


def test_a_kept_open_connection_that_the_server_dropped_is_reopened_transparently(
    tmp_path: Path,
) -> None:
    """The server restarts between two letters: the second one reconnects and is sent once."""
    port = free_port()
    maildir = tmp_path / "mail"
    transport = SmtpTransport(SmtpConfig.from_url(f"smtp://127.0.0.1:{port}", timeout=5))
    with CaptureServer(maildir, port=port):
        assert _send(transport, 1).kind == "sent"
    with CaptureServer(maildir, port=port):
        second = _send(transport, 2)
    transport.close()
    assert second.kind == "sent"
    assert transport.connections_opened == 2
    assert sorted(m.envelope_to[0] for m in read_mailbox(maildir)) == [
        "mep1@example.org",
        "mep2@example.org",
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example.org", SmtpConfig("relay.example.org", 25)),
        (
            "smtp://user%40org:p%3Ass@relay.example.org:587?starttls=true",
            SmtpConfig(
                "relay.example.org", 587, starttls=True, username="user@org", password="p:ss"
            ),
        ),
        ("smtps://relay.example.org", SmtpConfig("relay.example.org", 465, use_ssl=True)),
    ],
)
def test_smtp_urls_are_parsed(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


def test_a_non_smtp_url_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with smtp:// or smtps://"):
        SmtpConfig.from_url("http://relay.example.org")


@given(st.lists(st.sampled_from([b"a", b".", b"..", b"\r\n", b"\n", b"\r", b" ", b"From "])))
def test_data_is_dot_stuffed_with_crlf_line_ends_as_rfc_5321_asks(pieces: list[bytes]) -> None:
    """The fast path (bytes already CRLF) and the general one give what a line-by-line reading
    of RFC 5321 gives: every line end CRLF, a dot at the start of a line doubled, the final dot."""
    raw = b"".join(pieces)
    lines = re.split(rb"\r\n|\r|\n", raw)
    if lines[-1] == b"":
        lines.pop()
    expected = b"".join(
        (b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines
    )
    expected = expected or b"\r\n"  # an empty message: one empty line
    assert _dot_stuffed(raw) == expected + b".\r\n"
