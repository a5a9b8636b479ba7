"""End to end: a launched campaign reaches the SMTP server once per recipient, personalised.

Real parts only: the migrated database (SQLite or PostgreSQL), a real Redis, a real dramatiq Worker
running the app's actors, and a real SMTP server (aiosmtpd) that writes what it receives to disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from contacts.address import salutation
from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.mail.identity import MessageIdentity
from tests.conftest import launch_campaign, wait_for

SUBJECT = "Human rights at the EU–China summit: a letter to {{ recipient.formal_name }}"
BODY = """{{ salutation }}

We write to you as a member of the European Parliament for {{ recipient.country }} ahead of the summit.

We ask you to raise the cases of the detained defenders by name.

Yours sincerely,
The coalition
"""


def test_launch_to_50_meps_sends_exactly_one_personalised_message_to_each(
    app: Flask, smtp_server: CaptureServer, worker: object, login: Callable[..., FlaskClient]
) -> None:
    """When a campaign to 50 imported MEPs is launched, the SMTP server receives exactly 50 messages,
    one per address, each greeting its own recipient by name, and all 50 deliveries end `sent`; a
    letter's history says which worker process sent it."""
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)
            mep_ids = list(
                session.scalars(
                    select(Contact.id).where(Contact.kind == "mep").order_by(Contact.id).limit(50)
                )
            )
            campaign = services.create_campaign(
                session,
                name="Summit letter",
                subject=SUBJECT,
                body=BODY,
                audience={"contact_ids": mep_ids},
            )
            campaign_id = campaign.id
        result = launch_campaign(app, campaign_id, batch_size=10)
        assert result.deliveries == 50
        assert result.batches == 5

        def all_sent() -> bool:
            with db.transaction() as s:
                return (
                    s.scalar(
                        select(func.count()).where(
                            Delivery.campaign_id == campaign_id, Delivery.state == "sent"
                        )
                    )
                    == 50
                )

        wait_for(all_sent, timeout=60)

        with db.transaction() as session:
            deliveries = list(
                session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id))
            )
            contacts = {
                c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(mep_ids)))
            }
            events = list(session.scalars(select(DeliveryEvent).order_by(DeliveryEvent.id)))
            status = session.get(Campaign, campaign_id).status  # type: ignore[union-attr]

    captured = read_mailbox(smtp_server.handler.maildir)
    assert len(captured) == 50
    identity = MessageIdentity.from_settings(app.config["OUTREACH"])
    by_recipient = {}
    for message in captured:
        assert len(message.envelope_to) == 1
        by_recipient[message.envelope_to[0]] = message
    expected_addresses = {contacts[i].email for i in mep_ids}
    assert set(by_recipient) == expected_addresses

    for delivery in deliveries:
        contact = contacts[delivery.contact_id]
        message = by_recipient[delivery.email]
        body = message.body_text
        assert body.startswith(salutation(contact) + "\n")
        assert contact.family_name in body.splitlines()[0]
        assert "Dear ," not in body
        assert message.message["Message-ID"] == delivery.message_id
        # VERP: the bounce address with this delivery's signed token; Reply-To likewise.
        assert identity.delivery_for_bounce(message.envelope_from) == delivery.id
        assert identity.delivery_for_reply(str(message.message["Reply-To"])) == delivery.id
        assert str(message.message["To"]).endswith(f"<{contact.email}>")
        assert delivery.sent_at is not None
        assert delivery.last_smtp_code == 250

    history: dict[int, list[str]] = {}
    for event in events:
        history.setdefault(event.delivery_id, []).append(event.to_state)
    assert all(states == ["queued", "sending", "sent"] for states in history.values())
    assert len(history) == 50
    assert status == "finished"
    page = login("viewer").get(f"/deliveries/{deliveries[0].id}").get_data(as_text=True)
    assert f"worker (process {os.getpid()})" in page  # the test's in-process worker


def test_a_batch_delivered_twice_sends_nothing_twice(
    app: Flask, smtp_server: CaptureServer
) -> None:
    """When the same batch of ids is handled twice (a redelivered job), the second run claims
    nothing and the SMTP server still holds one message per recipient."""
    from outreach.campaigns.sending import send_batch
    from outreach.mail.transport import SmtpConfig, SmtpTransport

    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)
            ids = list(session.scalars(select(Contact.id).where(Contact.kind == "mep").limit(3)))
            campaign_id = services.create_campaign(
                session,
                name="Twice",
                subject="Hello",
                body="{{ salutation }}\n",
                audience={"contact_ids": ids},
            ).id
        launch_campaign(app, campaign_id, batch_size=10)
        with db.transaction() as session:
            delivery_ids = list(
                session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id))
            )
        transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url))
        kwargs = {"actor": "test", "default_from": "a@example.org", "return_path": "b@example.org"}
        first = send_batch(db, delivery_ids, transport, **kwargs)  # type: ignore[arg-type]
        second = send_batch(db, delivery_ids, transport, **kwargs)  # type: ignore[arg-type]
        transport.close()
    assert first.claimed == 3
    assert first.outcomes == {"sent": 3}
    assert second.claimed == 0
    assert len(read_mailbox(smtp_server.handler.maildir)) == 3
    assert transport.connections_opened == 1
