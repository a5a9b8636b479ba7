"""The inbound pipeline on the database: stored once, processed once, matched by signed tokens or
Message-IDs, effects on deliveries and contacts, failures kept, the webhook and the endpoint."""

from __future__ import annotations

import base64
import json
import smtplib
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.extensions import get_db
from outreach.jobs import PROCESS_INBOUND
from outreach.mail.identity import MessageIdentity
from outreach.tracking import process as process_module
from outreach.tracking.effects import score_soft_bounce
from outreach.tracking.intake import intake_for_app, store_inbound
from outreach.tracking.models import InboundMessage
from outreach.tracking.process import handle_inbound
from outreach.tracking.webhook import sign

BOUNCES = Path(__file__).parent / "data" / "bounces"


def make_sent(app: Flask, count: int = 3) -> list[int]:
    """A campaign whose `count` letters were sent (with Message-IDs); their delivery ids."""
    with app.app_context(), get_db().transaction() as session:
        campaign = Campaign(name="Letter", subject_template="Hi", body_template="{{ salutation }}")
        session.add(campaign)
        ids = []
        for i in range(count):
            contact = Contact(
                display_name=f"Member {i}",
                family_name=f"Member{i}",
                email=f"member{i}@ep.example.eu",
            )
            session.add(contact)
            session.flush()
            delivery = Delivery(
                campaign_id=campaign.id, contact_id=contact.id, email=contact.email,
                state="sent", message_id=f"<letter-{i}@example.org>", sent_at=utcnow(),
            )  # fmt: skip
            session.add(delivery)
            session.flush()
            ids.append(delivery.id)
        return ids


def identity(app: Flask) -> MessageIdentity:
    return MessageIdentity.from_settings(app.config["OUTREACH"])


def store_and_process(app: Flask, raw: bytes, to: list[str]) -> InboundMessage | None:
    with app.app_context():
        with get_db().transaction() as session:
            row_id = store_inbound(session, raw, via="smtp", envelope_to=to)
        if row_id is None:
            return None
        handle_inbound(get_db(), row_id, identity(app), app.config["OUTREACH"])
        return get_db().session.get(InboundMessage, row_id)


def delivery(app: Flask, delivery_id: int) -> tuple[Delivery, Contact]:
    with app.app_context():
        session = get_db().session
        d = session.get(Delivery, delivery_id)
        assert d is not None
        c = session.get(Contact, d.contact_id)
        assert c is not None
        return d, c


def bounce_for(
    failed: str,
    message_id: str = "<unknown@example.org>",
    status: str = "5.1.1",
    words: str = "User unknown",
) -> bytes:
    return (
        (
            "From: Mail Delivery System <MAILER-DAEMON@mx.ep.example.eu>\n"
            f"Subject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn-{failed}-{status}-{message_id.strip('<>')}>\n"
            'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
            "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
            "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.ep.example.eu\n\n"
            f"Final-Recipient: rfc822; {failed}\nAction: failed\nStatus: {status}\n"
            f"Diagnostic-Code: smtp; 550 {status} {words}\n\n"
            f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: {message_id}\nSubject: Hi\n\n--b--\n"
        )
        .replace("\n", "\r\n")
        .encode()
    )


def test_a_message_delivered_twice_is_stored_once_and_queued_once(
    app: Flask, redis_url: str
) -> None:
    """When the same message (same Message-ID) arrives twice, the second insert is a no-op: one
    row, one processing job in Redis."""
    raw = b"Message-ID: <same@x>\r\nFrom: a@b.example\r\nSubject: hello\r\n\r\nhello\r\n"
    with app.app_context():
        with get_db().transaction() as session:
            first = store_inbound(session, raw, via="smtp")
        with get_db().transaction() as session:
            second = store_inbound(session, raw + b"a trace header differs\r\n", via="imap")
    assert first is not None
    assert second is None
    client = redis.Redis.from_url(redis_url)
    assert client.llen(f"dramatiq:{PROCESS_INBOUND.queue_name}") == 1
    client.close()


def test_a_message_without_message_id_is_keyed_by_its_content_without_trace_headers(
    app: Flask,
) -> None:
    """Without a Message-ID the key is a digest that ignores Received/Delivered-To lines, so the
    same message through two MTAs is one row."""
    body = b"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"
    with app.app_context(), get_db().transaction() as session:
        assert store_inbound(session, b"Received: from one\r\n" + body, via="smtp") is not None
        assert (
            store_inbound(
                session, b"Received: from two\r\nDelivered-To: x@y\r\n" + body, via="smtp"
            )
            is None
        )


def test_a_hard_bounce_to_the_verp_address_marks_the_delivery_and_the_address(app: Flask) -> None:
    """When a DSN comes back to a letter's VERP address, its delivery becomes bounced with the
    status in the event, and the contact's address is marked bouncing."""
    first, *_ = make_sent(app)
    verp = identity(app).return_path_for(first)
    row = store_and_process(app, bounce_for("member0@ep.example.eu"), [verp])
    assert row is not None
    assert (row.state, row.kind, row.matched_by, row.delivery_id) == (
        "processed",
        "hard_bounce",
        "verp",
        first,
    )
    assert (row.bounce_status, row.bounce_smtp_code, row.bounce_reason) == (
        "5.1.1",
        550,
        "userunknown",
    )
    d, contact = delivery(app, first)
    assert d.state == "bounced"
    assert contact.email_status == "bouncing"
    with app.app_context():
        event = (
            get_db()
            .session.scalars(
                select(DeliveryEvent)
                .where(DeliveryEvent.delivery_id == first)
                .order_by(DeliveryEvent.id.desc())
            )
            .first()
        )
    assert event is not None
    assert event.smtp_code == 550
    assert event.actor == f"inbound:{row.id}"
    assert event.detail is not None
    assert event.detail.startswith("hard bounce (userunknown 5.1.1)")


def test_a_forged_verp_token_is_ignored_logged_and_left_unmatched(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """A bounce to bounces+b<id>.<wrong mac> changes nothing: it is logged, noted, unmatched."""
    first, *_ = make_sent(app)
    forged = f"bounces+b{first}.aaaaaaaaaaaaaaaa@example.org"
    row = store_and_process(app, bounce_for("member0@ep.example.eu"), [forged])
    assert row is not None
    assert row.state == "unmatched"
    assert row.delivery_id is None
    assert row.match_note is not None
    assert "forged" in row.match_note
    assert "does not verify" in caplog.text
    d, contact = delivery(app, first)
    assert d.state == "sent"
    assert contact.email_status == "ok"


def test_a_bounce_without_verp_is_matched_by_the_returned_message_id(app: Flask) -> None:
    """A bounce sent to the plain bounce address names its letter by the returned Message-ID."""
    _, second, _ = make_sent(app)
    row = store_and_process(
        app,
        bounce_for("member1@ep.example.eu", "<letter-1@example.org>", "5.2.2", "Mailbox full"),
        ["bounces@example.org"],
    )
    assert row is not None
    assert (row.kind, row.matched_by, row.delivery_id) == (
        "soft_bounce",
        "returned-message-id",
        second,
    )
    d, contact = delivery(app, second)
    assert d.state == "bounced"
    assert contact.email_status == "ok"
    assert contact.bounce_score == 1.0


def test_soft_bounces_are_scored_once_a_day_and_forgotten_after_quiet_days(app: Flask) -> None:
    """Mailman's scoring: one point a day at most, the score starts again after the stale
    period, and the address is marked bouncing at the threshold (3 by default)."""
    s = app.config["OUTREACH"]
    contact = Contact(
        display_name="X", email="x@ep.example.eu", email_status="ok", bounce_score=0.0
    )
    day = utcnow()
    score_soft_bounce(contact, day, s)
    score_soft_bounce(contact, day + timedelta(hours=1), s)
    assert contact.bounce_score == 1.0
    score_soft_bounce(contact, day + timedelta(days=10), s)  # stale: starts again
    assert contact.bounce_score == 1.0
    assert contact.email_status == "ok"
    score_soft_bounce(contact, day + timedelta(days=11), s)
    score_soft_bounce(contact, day + timedelta(days=12), s)
    assert contact.bounce_score == 3.0
    assert contact.email_status == "bouncing"


def test_a_reply_by_token_or_in_reply_to_makes_the_delivery_replied(app: Flask) -> None:
    """A reply to the signed Reply-To, or carrying the letter's Message-ID in In-Reply-To, makes
    its delivery replied; an auto-reply to the same letter does not."""
    first, second, third = make_sent(app)
    reply_to = identity(app).reply_to_for(first)
    assert reply_to is not None
    row = store_and_process(
        app,
        b"From: member0@ep.example.eu\r\nMessage-ID: <r1@ep>\r\nSubject: Re: Hi\r\n\r\nThank you, I agree.\r\n",
        [reply_to],
    )
    assert row is not None
    assert (row.kind, row.matched_by, row.reply_text) == (
        "reply",
        "reply-token",
        "Thank you, I agree.",
    )
    row = store_and_process(
        app,
        b"From: member1@ep.example.eu\r\nMessage-ID: <r2@ep>\r\nIn-Reply-To: <letter-1@example.org>\r\nSubject: Re: Hi\r\n\r\nNoted.\r\n",
        ["replies@localhost"],
    )
    assert row is not None
    assert (row.matched_by, row.delivery_id) == ("in-reply-to", second)
    row = store_and_process(
        app,
        b"From: member2@ep.example.eu\r\nMessage-ID: <r3@ep>\r\nIn-Reply-To: <letter-2@example.org>\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway.\r\n",
        ["replies@localhost"],
    )
    assert row is not None
    assert (row.kind, row.delivery_id, row.state) == ("auto_reply", third, "processed")
    assert [delivery(app, i)[0].state for i in (first, second, third)] == [
        "replied",
        "replied",
        "sent",
    ]


def test_mail_to_an_unsubscribe_address_records_the_supporter(app: Flask) -> None:
    """Mail to replies+u<id>.<mac> is an unsubscribe request for that supporter."""
    target = identity(app).unsubscribe_for(42).mailto
    row = store_and_process(
        app, b"From: s@example.net\r\nMessage-ID: <u1@x>\r\nSubject: unsubscribe\r\n\r\n", [target]
    )
    assert row is not None
    assert (row.kind, row.supporter_id, row.state) == ("unsubscribe", 42, "processed")


def test_unmatched_mail_waits_for_staff(app: Flask) -> None:
    """A reply that names no letter is kept as unmatched, with its text."""
    row = store_and_process(
        app,
        b"From: someone@example.net\r\nMessage-ID: <n1@x>\r\nSubject: Question\r\n\r\nWho are you?\r\n",
        ["replies@localhost"],
    )
    assert row is not None
    assert (row.kind, row.state, row.reply_text) == ("reply", "unmatched", "Who are you?")


def test_a_message_that_raises_is_kept_failed_and_the_next_one_is_processed(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When processing one message raises, its effects are rolled back, it is kept as failed
    with the error, and the next message is processed as usual."""
    first, second, _ = make_sent(app)
    real = process_module.apply_bounce
    calls = {"n": 0}

    def explode_once(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk on fire")
        real(*args, **kwargs)

    monkeypatch.setattr(process_module, "apply_bounce", explode_once)
    ident = identity(app)
    bad = store_and_process(
        app, bounce_for("member0@ep.example.eu"), [ident.return_path_for(first)]
    )
    good = store_and_process(
        app, bounce_for("member1@ep.example.eu"), [ident.return_path_for(second)]
    )
    assert bad is not None
    assert bad.state == "failed"
    assert bad.error is not None
    assert "disk on fire" in bad.error
    assert bad.kind is None  # nothing of the rolled-back processing stayed
    assert good is not None
    assert good.state == "processed"
    assert delivery(app, first)[0].state == "sent"
    assert delivery(app, second)[0].state == "bounced"


def test_processing_a_message_twice_changes_nothing_the_second_time(app: Flask) -> None:
    """A second job for a processed message finds it taken and does nothing."""
    first, *_ = make_sent(app)
    row = store_and_process(
        app, bounce_for("member0@ep.example.eu"), [identity(app).return_path_for(first)]
    )
    assert row is not None
    with app.app_context():
        assert handle_inbound(get_db(), row.id, identity(app), app.config["OUTREACH"]) is None
        count = get_db().session.scalar(
            select(func.count())
            .select_from(DeliveryEvent)
            .where(DeliveryEvent.delivery_id == first)
        )
    assert count == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(min_size=1, max_size=2000))
def test_nothing_raises_out_of_the_pipeline_whatever_the_bytes(app: Flask, raw: bytes) -> None:
    """Arbitrary bytes are stored and processed: the row ends processed, unmatched or failed,
    and no exception leaves the pipeline."""
    row = store_and_process(app, raw, ["bounces@example.org"])
    assert row is None or row.state in {"processed", "unmatched", "failed"}


def _signed_post(
    client: Any,
    secret: str,
    payload: object,
    *,
    ts: int | None = None,
    signature: str | None = None,
) -> Any:
    body = json.dumps(payload).encode()
    stamp = str(ts if ts is not None else int(time.time()))
    return client.post(
        "/inbound/webhook", data=body, content_type="application/json",
        headers={"X-Outreach-Timestamp": stamp, "X-Outreach-Signature": signature or sign(secret, stamp, body)},
    )  # fmt: skip


@pytest.fixture
def webhook_app(app: Flask) -> Flask:
    app.config["OUTREACH"] = app.config["OUTREACH"].__class__(
        **{**app.config["OUTREACH"].__dict__, "webhook_secret": "s3cret"}
    )
    return app


def test_the_webhook_stores_signed_events_once_and_refuses_bad_ones(webhook_app: Flask) -> None:
    """A signed bounce event becomes a stored report matched by its VERP address; the same event
    again is a duplicate; a bad signature, a stale timestamp and a malformed body are 4xx."""
    app = webhook_app
    first, *_ = make_sent(app)
    client = app.test_client()
    event = {"id": "evt-1", "type": "bounce", "bounce_type": "hard", "recipient": "member0@ep.example.eu",
             "status": "5.1.1", "smtp_code": 550, "diagnostic": "user unknown",
             "return_path": identity(app).return_path_for(first)}  # fmt: skip
    reply = {
        "id": "evt-2",
        "type": "inbound",
        "raw": base64.b64encode(b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n").decode(),
    }
    resp = _signed_post(client, "s3cret", {"events": [event, reply]})
    assert resp.status_code == 200
    assert resp.json == {"stored": 2, "duplicates": 0}
    assert _signed_post(client, "s3cret", {"events": [event]}).json == {
        "stored": 0,
        "duplicates": 1,
    }
    assert (
        _signed_post(client, "s3cret", {"events": [event]}, signature="sha256=00").status_code
        == 401
    )
    assert (
        _signed_post(client, "s3cret", {"events": [event]}, ts=int(time.time()) - 3600).status_code
        == 401
    )
    assert _signed_post(client, "s3cret", {"nope": 1}).status_code == 400
    assert _signed_post(client, "s3cret", {"events": [{"type": "bounce"}]}).status_code == 400
    with app.app_context():
        row_id = get_db().session.scalar(
            select(InboundMessage.id).where(InboundMessage.message_key == "webhook:evt-1")
        )
        assert row_id is not None
        handle_inbound(get_db(), row_id, identity(app), app.config["OUTREACH"])
    assert delivery(app, first)[0].state == "bounced"


def test_the_webhook_is_off_without_a_secret(app: Flask) -> None:
    """With no OUTREACH_WEBHOOK_SECRET the route does not exist (404)."""
    assert app.test_client().post("/inbound/webhook", data=b"{}").status_code == 404


@pytest.mark.parametrize("lmtp", [False, True])
def test_the_inbound_endpoint_accepts_only_our_addresses_and_stores(app: Flask, lmtp: bool) -> None:
    """The SMTP (and LMTP) endpoint refuses foreign recipients at RCPT and stores what it accepts."""
    from outreach.tracking.endpoint import make_controller

    controller = make_controller(intake_for_app(app), "127.0.0.1", 0 or _port(), lmtp=lmtp)
    controller.start()
    try:
        client_class = smtplib.LMTP if lmtp else smtplib.SMTP
        with client_class("127.0.0.1", controller.port) as client:
            refused = client.sendmail(
                "",
                ["someone@else.example", "bounces+b1.x@example.org"],
                b"Message-ID: <e1@x>\r\n\r\nhi\r\n",
            )
            assert list(refused) == ["someone@else.example"]
    finally:
        controller.stop()
    with app.app_context():
        row = get_db().session.scalar(select(InboundMessage))
    assert row is not None
    assert row.via == ("lmtp" if lmtp else "smtp")
    assert row.envelope_to == ["bounces+b1.x@example.org"]


def _port() -> int:
    from tests.conftest import free_port

    return free_port()
