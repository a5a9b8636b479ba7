"""Supporters' data rights: withdrawal from the link in their mail, RFC 8058 one-click
unsubscription, staff's export and erasure of everything held about an address, and the
retention purge of unconfirmed signatures."""

from __future__ import annotations

import csv
import io
import json
import re
import smtplib
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.base import utcnow
from outreach.audit import AuditEvent
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.supporters.cosigners import named_cosigners
from outreach.supporters.models import Signature
from outreach.supporters.rights import purge_unconfirmed
from outreach.supporters.signing import SignatureInput, confirm, sign
from outreach.supporters.sweep import sweep_signatures
from tests.conftest import count_rows, csrf_token_from, running_worker, wait_for
from tests.supporters import configure, form_token, public_campaign, signing_data

WITHDRAW_RE = re.compile(r"(https?://\S+/withdraw/\S+)")


def signed(
    app: Flask,
    campaign_id: int,
    email: str = "ana@example.org",
    *,
    name: str = "Ana Example",
    confirmed: bool = True,
    age: timedelta = timedelta(0),
    country: str = "BE",
) -> int:
    """A signature made through the signing service (as the form makes it); its id."""
    from outreach.campaigns.models import Campaign

    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        result = sign(
            session,
            campaign,
            SignatureInput(name=name, email=email, country=country, privacy_notice="Notice v1",
                           named=True, comment="=cmd|' /C calc'!A0"),
            source="test",
            burst=None,
            now=utcnow() - age,
        )  # fmt: skip
        if confirmed:
            confirm(session, result.signature_id)
        return result.signature_id


def _signature(app: Flask, signature_id: int) -> Signature | None:
    with app.app_context():
        return get_db().session.get(Signature, signature_id)


def test_the_withdrawal_link_in_the_mail_takes_the_name_off_the_letter(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """When a supporter presses the button behind the withdrawal link of their confirmation mail,
    their signature stops counting and their name leaves the co-signers; opening the link alone
    changes nothing, and a forged link is refused."""
    campaign_id = public_campaign(app)
    configure(app, sign_min_seconds=0)
    token = form_token(client.get("/c/free-them").get_data(as_text=True))
    assert client.post("/c/free-them", data=signing_data(token)).status_code == 200
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 1, timeout=20)
    [mail] = read_mailbox(smtp_server.handler.maildir)
    match = WITHDRAW_RE.search(mail.body_text)
    assert match, "the confirmation mail has no withdrawal link"
    [sig] = get_signatures(app)
    with app.app_context(), get_db().transaction() as session:
        confirm(session, sig.id)
    with app.app_context():
        assert named_cosigners(get_db().session, campaign_id) == ["Ana Example"]
    path = urlsplit(match.group(1)).path
    page = client.get(path)
    assert page.status_code == 200
    assert "Withdraw my signature" in page.get_data(as_text=True)
    assert get_signatures(app)[0].state == "confirmed"
    resp = client.post(path, data={"csrf_token": form_token(page.get_data(as_text=True))})
    assert resp.status_code == 200
    assert "Your signature is withdrawn" in resp.get_data(as_text=True)
    [after] = get_signatures(app)
    assert (after.state, after.withdrawn_at is not None) == ("withdrawn", True)
    with app.app_context():
        assert named_cosigners(get_db().session, campaign_id) == []
    assert client.get("/c/free-them/count.json").get_json()["confirmed"] == 0
    assert client.get(path[:-3] + "xyz").status_code == 404


def get_signatures(app: Flask) -> list[Signature]:
    with app.app_context():
        return list(get_db().session.scalars(select(Signature).order_by(Signature.id)))


def test_one_click_unsubscribe_posts_without_csrf_and_stops_reminders(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """The List-Unsubscribe URL of a supporter's mail: GET shows a button and changes nothing;
    a POST with `List-Unsubscribe=One-Click` and no CSRF token (RFC 8058) unsubscribes, and the
    reminder sweep then leaves the supporter alone. A forged token is 404, a POST without the
    one-click body 400."""
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    token = form_token(client.get("/c/free-them").get_data(as_text=True))
    client.post("/c/free-them", data=signing_data(token))
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 1, timeout=20)
    [mail] = read_mailbox(smtp_server.handler.maildir)
    url = mail.message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    path = urlsplit(url).path
    assert path.startswith("/unsubscribe/u")
    page = client.get(path)
    assert page.status_code == 200
    assert 'value="One-Click"' in page.get_data(as_text=True)
    assert get_signatures(app)[0].unsubscribed_at is None
    assert client.post(path, data={}).status_code == 400
    assert client.get("/unsubscribe/u1.aaaaaaaaaaaaaaaa").status_code == 404
    resp = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200
    assert "You are unsubscribed" in resp.get_data(as_text=True)
    [sig] = get_signatures(app)
    assert sig.unsubscribed_at is not None
    assert sig.state == "pending"  # unsubscribing is not withdrawing
    # Two days after the confirmation mail, no reminder is queued for them.
    with app.app_context(), get_db().transaction() as session:
        row = session.get(Signature, sig.id)
        assert row is not None
        row.confirmation_sent_at = utcnow() - timedelta(days=3)
    with app.app_context(), get_db().transaction() as session:
        assert sweep_signatures(session).reminders == 0


def _data_request(staff: FlaskClient, action: str, email: str, **more: str) -> object:
    page = staff.get("/supporters/data")
    assert page.status_code == 200
    token = csrf_token_from(page.get_data(as_text=True))
    return staff.post(
        "/supporters/data",
        data={"csrf_token": token, "email": email, "action": action, **more},
    )


def test_staff_export_everything_held_about_an_address_as_json_and_neutralised_csv(
    app: Flask, login: object
) -> None:
    first = public_campaign(app)
    second = public_campaign(app, slug="second")
    signed(app, first, name='=HYPERLINK("http://evil")')
    signed(app, second, "ANA@example.org".lower(), confirmed=False)
    signed(app, first, "someone.else@example.org")
    staff = login("admin")  # type: ignore[operator]
    resp = _data_request(staff, "json", "Ana@Example.org")
    assert resp.status_code == 200  # type: ignore[attr-defined]
    data = json.loads(resp.get_data(as_text=True))  # type: ignore[attr-defined]
    assert data["email"] == "ana@example.org"
    assert [s["campaign"]["id"] for s in data["signatures"]] == [first, second]
    assert [s["state"] for s in data["signatures"]] == ["confirmed", "pending"]
    assert data["signatures"][0]["privacy_notice"] == "Notice v1"
    assert data["signatures"][0]["consent"] is True
    assert "someone.else" not in resp.get_data(as_text=True)  # type: ignore[attr-defined]
    resp = _data_request(staff, "csv", "ana@example.org")
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))  # type: ignore[attr-defined]
    assert len(rows) == 2
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["comment"].startswith("'=")
    # Campaigners may not read supporters' data.
    staff.post(
        "/logout",
        data={"csrf_token": csrf_token_from(staff.get("/supporters/data").get_data(as_text=True))},
    )
    assert login("campaigner").get("/supporters/data").status_code == 403  # type: ignore[operator]


def test_erasure_deletes_the_rows_and_audits_it_without_the_address(
    app: Flask, login: object
) -> None:
    campaign_id = public_campaign(app)
    gone = signed(app, campaign_id)
    kept = signed(app, campaign_id, "other@example.org", name="Other Person")
    staff = login("admin")  # type: ignore[operator]
    # Without the confirmation box nothing is erased.
    _data_request(staff, "erase", "ana@example.org")
    assert _signature(app, gone) is not None
    resp = _data_request(staff, "erase", "ana@example.org", confirm_erase="y")
    assert resp.status_code == 302  # type: ignore[attr-defined]
    assert _signature(app, gone) is None
    assert _signature(app, kept) is not None
    with app.app_context():
        [event] = (
            get_db()
            .session.scalars(select(AuditEvent).where(AuditEvent.action == "supporter erased"))
            .all()
        )
    assert event.action == "supporter erased"
    assert event.actor.startswith("user:")
    assert "ana" not in (event.detail or "").lower()
    assert f"signatures {gone} deleted" in (event.detail or "")


def test_the_retention_purge_deletes_unconfirmed_signatures_after_the_period(
    app: Flask,
) -> None:
    campaign_id = public_campaign(app)
    old_pending = signed(
        app, campaign_id, "old@example.org", confirmed=False, age=timedelta(days=31)
    )
    old_confirmed = signed(app, campaign_id, "kept@example.org", age=timedelta(days=40))
    recent = signed(app, campaign_id, "new@example.org", confirmed=False, age=timedelta(days=29))
    with app.app_context(), get_db().transaction() as session:
        assert purge_unconfirmed(session, days=0) == 0
        assert purge_unconfirmed(session, days=30) == 1
    assert _signature(app, old_pending) is None
    assert _signature(app, old_confirmed) is not None
    assert _signature(app, recent) is not None
    assert count_rows(app, Signature) == 2


def test_the_maintenance_pass_runs_the_purge(app: Flask) -> None:
    """The reconciler's actor, run by a real worker, purges with OUTREACH_SIGNATURE_RETENTION_DAYS."""
    from outreach.jobs import RECONCILE, broker_dispatcher

    campaign_id = public_campaign(app)
    signed(app, campaign_id, "old@example.org", confirmed=False, age=timedelta(days=31))
    signed(app, campaign_id, "new@example.org", confirmed=False, age=timedelta(days=2))
    with running_worker(app) as worker:
        broker_dispatcher(worker.broker)(RECONCILE, ())
        wait_for(lambda: count_rows(app, Signature) == 1, timeout=20)
    with app.app_context():
        left = get_db().session.scalars(select(Signature.email)).all()
    assert left == ["new@example.org"]  # the 31-day-old pending one went, the 2-day-old stays


def _mail_to_us(server: CaptureServer, sender: str, to: str, subject: str, text: str) -> None:
    raw = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.net>\r\n\r\n{text}\r\n"
    )
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail(sender, [to], raw.encode())


def test_export_and_erasure_cover_the_mail_received_from_the_supporter(
    app: Flask, login: object, smtp_server: CaptureServer
) -> None:
    """Mail from the supporter reaches the pipeline through the SMTP server and a real worker:
    one to their unsubscribe address (which unsubscribes them, as the one-click link does), one
    unmatched to the reply address. The export lists both
    (and not a stranger's mail); erasure deletes both, keeps the stranger's, and the audit event
    names the deleted messages by id only."""
    from outreach.mail.identity import MessageIdentity
    from outreach.tracking.intake import intake_for_app
    from outreach.tracking.models import InboundMessage

    campaign_id = public_campaign(app)
    signature_id = signed(app, campaign_id)
    smtp_server.handler.inbound = intake_for_app(app)
    identity = MessageIdentity.from_settings(app.config["OUTREACH"])
    unsubscribe = identity.unsubscribe_for(signature_id).mailto
    replies = "replies@localhost"  # the reply address of the tests' settings
    _mail_to_us(smtp_server, "Ana <ana@example.org>", unsubscribe, "stop please", "Stop.")
    _mail_to_us(smtp_server, "ana@example.org", replies, "my question", "Who reads this?")
    _mail_to_us(smtp_server, "stranger@example.net", replies, "other question", "Hello?")

    def processed() -> list[InboundMessage]:
        with app.app_context():
            return list(
                get_db().session.scalars(select(InboundMessage).order_by(InboundMessage.id))
            )

    with running_worker(app):
        wait_for(lambda: [m.state for m in processed()] == ["processed", "unmatched", "unmatched"])
    # The mail to the unsubscribe address acts as the one-click link does.
    supporter = _signature(app, signature_id)
    assert supporter is not None
    assert supporter.unsubscribed_at is not None
    staff = login("admin")  # type: ignore[operator]
    data = json.loads(_data_request(staff, "json", "ana@example.org").get_data(as_text=True))  # type: ignore[attr-defined]
    assert [(m["subject"], m["kind"]) for m in data["mail_received"]] == [
        ("stop please", "unsubscribe"),
        ("my question", "reply"),
    ]
    ana_mail = [m.id for m in processed()][:2]
    _data_request(staff, "erase", "ana@example.org", confirm_erase="y")
    assert [m.subject for m in processed()] == ["other question"]
    assert _signature(app, signature_id) is None
    with app.app_context():
        event = (
            get_db()
            .session.scalars(select(AuditEvent).where(AuditEvent.action == "supporter erased"))
            .one()
        )
    assert f"inbound messages {ana_mail[0]}, {ana_mail[1]} deleted" in (event.detail or "")
    assert "ana" not in (event.detail or "").lower()
