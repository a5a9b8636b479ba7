"""The replies inbox end to end: a campaign goes out through the real SMTP server and a real
worker, replies come back through the same server into the inbound pipeline, and staff read,
triage, annotate and assign them through the real pages (test client, CSRF tokens included)."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns.models import Delivery, DeliveryEvent
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.tracking.intake import intake_for_app
from outreach.tracking.models import InboundMessage, ReplyNote
from tests.conftest import csrf_token_from, draft_campaign, launch_campaign, wait_for


def deliver(server: CaptureServer, rcpt: str, raw: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail("", [rcpt], re.sub(r"\r?\n", "\r\n", raw).encode())


def sent_campaign(app: Flask, server: CaptureServer, count: int = 3) -> tuple[int, list[Delivery]]:
    """A campaign to `count` MEPs of the bundled directory, sent by the worker; its deliveries."""
    server.handler.inbound = intake_for_app(app)
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
        ids = list(
            session.scalars(
                select(Contact.id)
                .where(Contact.kind == "mep", Contact.political_group_short.is_not(None))
                .order_by(Contact.id)
                .limit(count)
            )
        )
    campaign_id = draft_campaign(
        app, {"contact_ids": ids}, subject="Free them",
        body="{{ salutation }}\n\nPlease ask for their release.", load_directory=False,
    )  # fmt: skip
    launch_campaign(app, campaign_id)
    with app.app_context():
        db = get_db()

        def sent() -> bool:
            with db.transaction() as s:
                return s.scalar(select(func.count()).where(Delivery.state == "sent")) == count

        wait_for(sent)
        with db.transaction() as session:
            deliveries = list(session.scalars(select(Delivery).order_by(Delivery.id)))
            session.expunge_all()
    return campaign_id, deliveries


def wait_processed(app: Flask, count: int) -> None:
    with app.app_context():

        def done() -> bool:
            with get_db().transaction() as s:
                states = list(s.scalars(select(InboundMessage.state)))
                return len(states) == count and "new" not in states

        wait_for(done)


def login_as(app: Flask, make_user: Callable[..., tuple[str, str]], role: str) -> FlaskClient:
    client = app.test_client()
    email, password = make_user(email=f"{role}@example.org", role=role)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert resp.status_code == 302
    return client


def post(client: FlaskClient, page: str, url: str, **data: object) -> str:
    """POST from a page as a browser would (with that page's CSRF token); the page after it."""
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    resp = client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_staff_read_triage_and_annotate_a_reply_beside_its_letter(
    app: Flask,
    smtp_server: CaptureServer,
    worker: object,
    make_user: Callable[..., tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A French reply to one letter shows in the inbox under "Replies" and on the campaign's
    page (who replied, with group and country); its page shows what the MEP wrote, the quote
    folded away, beside the letter it answers. A viewer marks it "needs follow-up" and adds a
    note: both are stored with the viewer's address; a viewer cannot assign mail."""
    campaign_id, deliveries = sent_campaign(app, smtp_server)
    letters = {m.envelope_to[0]: m for m in read_mailbox(smtp_server.handler.maildir)}
    answered = deliveries[1]
    reply_to = str(letters[answered.email].message["Reply-To"])
    deliver(
        smtp_server, reply_to,
        f"From: <{answered.email}>\nTo: <{reply_to}>\nMessage-ID: <fr-7@ep.example>\n"
        "Subject: RE: Free them\nContent-Type: text/plain; charset=utf-8\n\n"
        "Madame, Monsieur,\n\nJe poserai une question écrite à la Commission.\n\n"
        "Le 29 nov. 2026 à 10:00, Coalition <letters@example.org> a écrit :\n"
        "> Please ask for their release.\n",
    )  # fmt: skip
    wait_processed(app, 1)
    with app.app_context(), get_db().transaction() as session:
        message_id = session.scalars(select(InboundMessage.id)).one()
        contact = session.get(Contact, answered.contact_id)
        assert contact is not None
        group, country = contact.political_group_short, contact.country_code

    viewer = login_as(app, make_user, "viewer")
    listing = viewer.get("/replies").get_data(as_text=True)
    assert "RE: Free them" in listing
    assert answered.email in listing
    page = viewer.get(f"/replies/{message_id}").get_data(as_text=True)
    reply_text = re.search(r'<pre class="letter" id="reply-text">(.*?)</pre>', page, re.S)
    assert reply_text is not None
    assert "question écrite" in reply_text.group(1)
    assert "Please ask for their release" not in reply_text.group(1)  # the quote is folded
    letter_text = re.search(r'<pre class="letter" id="letter-text">(.*?)</pre>', page, re.S)
    assert letter_text is not None
    assert "Please ask for their release." in letter_text.group(1)
    assert 'id="triage-state">read<' in page  # opening it marked it read

    after = post(
        viewer, f"/replies/{message_id}", f"/replies/{message_id}/triage", state="follow_up"
    )
    assert 'id="triage-state">needs follow-up<' in after
    post(viewer, f"/replies/{message_id}", f"/replies/{message_id}/notes", body="Call her office.")
    token = csrf_token_from(viewer.get(f"/replies/{message_id}").get_data(as_text=True))
    refused = viewer.post(
        f"/replies/{message_id}/assign", data={"csrf_token": token, "delivery_id": answered.id}
    )
    assert refused.status_code == 403

    with app.app_context(), get_db().transaction() as session:
        row = session.get(InboundMessage, message_id)
        assert row is not None
        assert (row.triage, row.triaged_by) == ("follow_up", "viewer@example.org")
        notes = [(n.author, n.body) for n in session.scalars(select(ReplyNote))]
        assert notes == [("viewer@example.org", "Call her office.")]
    filtered = viewer.get("/replies?filter=replied&triage=follow_up").get_data(as_text=True)
    assert f"/replies/{message_id}" in filtered
    assert f"/replies/{message_id}" not in viewer.get("/replies?triage=done").get_data(as_text=True)

    who = viewer.get(f"/campaigns/{campaign_id}/replies").get_data(as_text=True)
    section = who.split('id="who-replied"')[1].split("</table>")[0]
    assert "Who replied (1)" in who
    assert contact.display_name in section
    assert f"<td>{group}</td>" in section
    assert f"<td>{country}</td>" in section
    # A drive with more repliers than the page lists points to the delivery table for all.
    monkeypatch.setattr("outreach.tracking.inbox.REPLIERS_SHOWN", 0)
    capped = viewer.get(f"/campaigns/{campaign_id}/replies").get_data(as_text=True)
    assert "Who replied (1)" in capped
    assert contact.display_name not in capped.split('id="who-replied"')[1].split("<h2")[0]
    assert f"/campaigns/{campaign_id}/deliveries?state=replied" in capped


def test_unmatched_mail_assigned_by_hand_has_the_effects_of_a_match(
    app: Flask,
    smtp_server: CaptureServer,
    worker: object,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    """A reply from another address, without token or thread headers, and a bounce without
    token are unmatched. A campaigner finds each letter by the recipient's name and assigns
    it: the first letter becomes replied, the second bounced, each with an event by the staff
    member; the messages are processed, matched by "staff", and the assignment is noted."""
    campaign_id, deliveries = sent_campaign(app, smtp_server)
    letters = {m.envelope_to[0]: m for m in read_mailbox(smtp_server.handler.maildir)}
    first, second = deliveries[0], deliveries[2]
    local, _, domain = str(letters[first.email].message["Reply-To"]).rpartition("@")
    base = local.split("+")[0] + "@" + domain
    deliver(
        smtp_server, base,
        f"From: <assistant@office.example>\nTo: <{base}>\nMessage-ID: <assist-1@office.example>\n"
        "Subject: Your letter\n\nThe MEP has read your letter and supports the call.\n",
    )  # fmt: skip
    verp_local, _, verp_domain = letters[first.email].envelope_from.rpartition("@")
    bounces = verp_local.split("+")[0] + "@" + verp_domain
    deliver(
        smtp_server, bounces,
        f"From: MAILER-DAEMON@mx.example\nTo: <{bounces}>\nMessage-ID: <dsn-1@mx.example>\n"
        "Subject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report; "
        'report-type=delivery-status; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        "Your message could not be delivered.\n--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example\n\n"
        f"Final-Recipient: rfc822; {second.email}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n--b--\n",
    )  # fmt: skip
    wait_processed(app, 2)
    with app.app_context(), get_db().transaction() as session:
        rows = {r.kind: r for r in session.scalars(select(InboundMessage))}
        assert {r.state for r in rows.values()} == {"unmatched"}, rows
        reply_id, bounce_id = rows["reply"].id, rows["hard_bounce"].id
        names = {
            d.id: session.get(Contact, d.contact_id).display_name  # type: ignore[union-attr]
            for d in (first, second)
        }

    staff = login_as(app, make_user, "campaigner")
    unmatched = staff.get("/replies?filter=unmatched").get_data(as_text=True)
    assert f"/replies/{reply_id}" in unmatched
    assert f"/replies/{bounce_id}" in unmatched
    family = names[first.id].split()[-1]
    found = staff.get(f"/replies/{reply_id}?q={family}").get_data(as_text=True)
    assert f'value="{first.id}"' in found
    post(
        staff,
        f"/replies/{reply_id}?q={family}",
        f"/replies/{reply_id}/assign",
        delivery_id=first.id,
    )
    post(staff, f"/replies/{bounce_id}", f"/replies/{bounce_id}/assign", delivery_id=second.id)

    with app.app_context(), get_db().transaction() as session:
        states = {d.id: session.get(Delivery, d.id).state for d in deliveries}  # type: ignore[union-attr]
        assert states == {first.id: "replied", deliveries[1].id: "sent", second.id: "bounced"}
        events = session.execute(
            select(DeliveryEvent.delivery_id, DeliveryEvent.to_state, DeliveryEvent.actor).where(
                DeliveryEvent.actor.like("staff:%")
            )
        ).all()
        assert sorted(events) == [
            (first.id, "replied", "staff:campaigner@example.org"),
            (second.id, "bounced", "staff:campaigner@example.org"),
        ]
        reply = session.get(InboundMessage, reply_id)
        bounce = session.get(InboundMessage, bounce_id)
        assert reply is not None
        assert bounce is not None
        assert (reply.state, reply.delivery_id, reply.matched_by, reply.assigned_by) == (
            "processed", first.id, "staff", "campaigner@example.org",
        )  # fmt: skip
        assert (bounce.state, bounce.delivery_id, bounce.matched_by) == (
            "processed", second.id, "staff",
        )  # fmt: skip
        notes = list(session.scalars(select(ReplyNote.body).order_by(ReplyNote.id)))
        assert notes[0].startswith("assigned as a reply")
        assert "bounce" in notes[1]
        bounced_contact = session.get(Contact, second.contact_id)
        assert bounced_contact is not None
        assert bounced_contact.email_status == "bouncing"
    again = staff.get("/replies?filter=unmatched").get_data(as_text=True)
    assert f"/replies/{reply_id}" not in again
    assert "Who replied (1)" in staff.get(f"/campaigns/{campaign_id}/replies").get_data(
        as_text=True
    )
