"""End to end: a campaign goes out through the real SMTP server and a real worker, and what comes
back (real bounces from the corpus rewritten to the campaign's VERP addresses, an out-of-office,
a French reply, a forged token, a duplicate) is delivered through the same capture server into
the inbound pipeline and processed by the worker's actor."""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.models import Delivery, DeliveryEvent
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.tracking.classify import classify_bytes
from outreach.tracking.intake import intake_for_app
from outreach.tracking.models import InboundMessage
from tests.conftest import launch_campaign, wait_for

BOUNCES = Path(__file__).parent / "data" / "bounces"


def rewritten(name: str, email: str) -> bytes:
    """A corpus bounce whose failed address is now one of our recipients."""
    raw = (BOUNCES / name).read_bytes()
    failed = classify_bytes(raw).bounce.failures[0].address
    return raw.replace(failed.encode(), email.encode())


def send(server: CaptureServer, rcpt: str, raw: bytes, sender: str = "") -> None:
    # The corpus files have bare LF line ends; SMTP wants CRLF (smtplib fixes only str).
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail(sender, [rcpt], re.sub(rb"\r?\n", b"\r\n", raw))


def test_bounces_replies_and_auto_replies_come_back_to_their_letters(
    app: Flask, smtp_server: CaptureServer, worker: object
) -> None:
    """After a 5-letter campaign: a hard bounce marks its letter bounced and the address
    bouncing, a soft bounce marks its letter bounced and scores the address, an out-of-office
    changes nothing, a French reply makes its letter replied (its text kept, the quote folded),
    a forged token changes nothing, and the reply delivered twice is stored and processed once."""
    smtp_server.handler.inbound = intake_for_app(app)
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)
            ids = list(
                session.scalars(
                    select(Contact.id).where(Contact.kind == "mep").order_by(Contact.id).limit(5)
                )
            )
            campaign_id = services.create_campaign(
                session, name="Summit", subject="Human rights", body="{{ salutation }}\n\nPlease act.",
                audience={"contact_ids": ids},
            ).id  # fmt: skip
        launch_campaign(app, campaign_id)

        def sent() -> bool:
            with db.transaction() as s:
                return s.scalar(select(func.count()).where(Delivery.state == "sent")) == 5

        wait_for(sent, timeout=60)
        with db.transaction() as session:
            deliveries = list(session.scalars(select(Delivery).order_by(Delivery.id)))
    letters = {m.envelope_to[0]: m for m in read_mailbox(smtp_server.handler.maildir)}
    assert len(letters) == 5
    hard, soft, away, answered, forged = deliveries
    verp = {d.id: letters[d.email].envelope_from for d in deliveries}
    reply_to = {d.id: str(letters[d.email].message["Reply-To"]) for d in deliveries}

    send(smtp_server, verp[hard.id], rewritten("lhost-postfix-04.eml", hard.email))
    send(smtp_server, verp[soft.id], rewritten("lhost-exim-01.eml", soft.email))
    send(
        smtp_server, reply_to[away.id],
        f"From: <{away.email}>\r\nTo: <{reply_to[away.id]}>\r\nMessage-ID: <ooo-1@ep.example>\r\n"
        "Subject: Réponse automatique : Human rights\r\nAuto-Submitted: auto-replied\r\n\r\n"
        "Je suis absente du bureau jusqu'au 3 décembre.\r\n".encode(),
    )  # fmt: skip
    french = (
        f"From: <{answered.email}>\r\nTo: <{reply_to[answered.id]}>\r\nMessage-ID: <fr-1@ep.example>\r\n"
        f"In-Reply-To: {answered.message_id}\r\nSubject: RE: Human rights\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Madame, Monsieur,\r\n\r\nJe partage vos préoccupations et j'interviendrai en séance.\r\n\r\n"
        "Cordialement\r\n\r\nLe 29 nov. 2026 à 10:00, Coalition <letters@example.org> a écrit :\r\n"
        "> Please act.\r\n> \r\n"
    ).encode()
    send(smtp_server, reply_to[answered.id], french)
    forged_address = verp[forged.id].split("+")[0] + f"+b{forged.id}.aaaaaaaaaaaaaaaa@example.org"
    send(smtp_server, forged_address, rewritten("lhost-sendmail-01.eml", forged.email))
    send(smtp_server, reply_to[answered.id], french)  # delivered again by the MTA

    with app.app_context():
        db = get_db()

        def all_processed() -> bool:
            with db.transaction() as s:
                states = list(s.scalars(select(InboundMessage.state)))
                return len(states) == 5 and "new" not in states

        wait_for(all_processed, timeout=60)
        with db.transaction() as session:
            rows = {r.delivery_id: r for r in session.scalars(select(InboundMessage))}
            states = {d.id: session.get(Delivery, d.id).state for d in deliveries}  # type: ignore[union-attr]
            contacts = {d.id: session.get(Contact, d.contact_id) for d in deliveries}
            events = list(
                session.scalars(select(DeliveryEvent).where(DeliveryEvent.actor.like("inbound:%")))
            )
            unmatched = list(
                session.scalars(select(InboundMessage).where(InboundMessage.state == "unmatched"))
            )

    assert states == {
        hard.id: "bounced",
        soft.id: "bounced",
        away.id: "sent",
        answered.id: "replied",
        forged.id: "sent",
    }
    assert contacts[hard.id].email_status == "bouncing"  # type: ignore[union-attr]
    assert contacts[soft.id].email_status == "ok"
    assert contacts[soft.id].bounce_score == 1.0
    assert contacts[forged.id].email_status == "ok"  # type: ignore[union-attr]
    assert (rows[hard.id].kind, rows[hard.id].matched_by, rows[hard.id].bounce_status) == (
        "hard_bounce",
        "verp",
        "5.1.1",
    )
    assert (rows[soft.id].kind, rows[soft.id].matched_by) == ("soft_bounce", "verp")
    assert (rows[away.id].kind, rows[away.id].via) == ("auto_reply", "dev")
    reply = rows[answered.id]
    assert (reply.kind, reply.matched_by) == ("reply", "reply-token")
    assert (
        reply.reply_text
        == "Madame, Monsieur,\n\nJe partage vos préoccupations et j'interviendrai en séance.\n\nCordialement"
    )
    assert reply.quoted_text is not None
    assert reply.quoted_text.endswith("> Please act.\n>")
    assert len(unmatched) == 1
    assert "forged" in (unmatched[0].match_note or "")
    # Nothing processed twice: one inbound event per changed letter, each message processed once.
    assert sorted((e.delivery_id, e.to_state) for e in events) == sorted(
        [(hard.id, "bounced"), (soft.id, "bounced"), (answered.id, "replied")]
    )
    assert all(r.attempts == 1 for r in [*rows.values(), *unmatched])
