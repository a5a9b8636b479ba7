"""The capture server's switchable faults, as the fault tests use them: a share of transactions
spread evenly, replies in turn, refusals at RCPT TO for matching addresses, 421 closing the
channel, a stall after the message is stored, and the record of every answer."""

from __future__ import annotations

import smtplib
from contextlib import suppress

import pytest

from outreach.devmail import CaptureServer, read_mailbox


def _send(
    server: CaptureServer, *recipients: str, timeout: float = 5
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=timeout) as conn:
        return conn.sendmail(
            "sender@example.org", list(recipients), b"Subject: hi\r\n\r\nHello\r\n"
        )


def _codes(server: CaptureServer) -> list[int | None]:
    return [a.code for a in server.handler.answers]


def test_a_share_of_transactions_is_hit_evenly_and_always_the_same_ones(
    smtp_server: CaptureServer,
) -> None:
    """share=0.3 hits the 4th, 7th and 10th of ten messages, with its replies in turn."""
    smtp_server.handler.set_fault(("451 4.3.0 Try later", "452 4.2.2 Full"), share=0.3)
    for n in range(1, 11):
        with suppress(smtplib.SMTPDataError):  # the 4xx answers, checked below
            _send(smtp_server, f"r{n}@example.org")
    assert _codes(smtp_server) == [250, 250, 250, 451, 250, 250, 452, 250, 250, 451]
    assert len(read_mailbox(smtp_server.handler.maildir)) == 7


def test_a_recipient_pattern_refuses_matching_addresses_at_rcpt_and_takes_the_others(
    smtp_server: CaptureServer,
) -> None:
    smtp_server.handler.set_fault("550 5.1.1 User unknown", recipients=r"@gone\.example$")
    refused = _send(smtp_server, "a@gone.example", "b@here.example")
    assert refused == {"a@gone.example": (550, b"5.1.1 User unknown")}
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(smtp_server, "c@gone.example")
    answers = list(smtp_server.handler.answers)
    assert [(a.stage, a.recipients, a.code, a.stored) for a in answers] == [
        ("RCPT", ("a@gone.example",), 550, False),
        ("DATA", ("b@here.example",), 250, True),
        ("RCPT", ("c@gone.example",), 550, False),
    ]
    assert [m.envelope_to for m in read_mailbox(smtp_server.handler.maildir)] == [
        ["b@here.example"]
    ]


def test_a_421_closes_the_channel_after_answering(smtp_server: CaptureServer) -> None:
    smtp_server.handler.set_fault("421 4.3.2 Closing", count=1)
    conn = smtplib.SMTP("127.0.0.1", smtp_server.port, timeout=5)
    try:
        conn.ehlo()
        conn.mail("sender@example.org")
        conn.rcpt("a@example.org")
        code, _ = conn.data(b"Subject: hi\r\n\r\nHello\r\n")
        assert code == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            conn.mail("sender@example.org")
    finally:
        conn.close()
    assert smtp_server.handler.faults == []  # count=1: used up
    assert _codes(smtp_server) == [421]


def test_a_stall_stores_the_message_before_the_sender_gives_up(
    smtp_server: CaptureServer,
) -> None:
    """The sender times out waiting for the answer, yet the server has the message: the case
    that must end `uncertain`, never in a resend."""
    smtp_server.handler.set_fault("stall", count=1, delay=2.0)
    with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
        _send(smtp_server, "a@example.org", timeout=0.5)
    assert [m.envelope_to for m in read_mailbox(smtp_server.handler.maildir)] == [["a@example.org"]]
    _send(smtp_server, "b@example.org")
    answers = [(a.recipients, a.reply[:3], a.stored) for a in smtp_server.handler.answers]
    assert answers == [(("a@example.org",), "sta", True), (("b@example.org",), "250", True)]
