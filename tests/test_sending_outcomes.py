"""What each SMTP outcome does to a delivery: the state, the recorded reply, the event history."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from outreach.campaigns.models import Delivery, DeliveryEvent
from outreach.campaigns.sending import send_batch
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.mail.transport import SmtpConfig, SmtpTransport
from tests.conftest import draft_campaign, launch_campaign


@pytest.mark.parametrize(
    ("fault", "state", "code", "stored"),
    [
        ("550 5.1.1 User unknown", "failed", 550, 0),
        ("452 4.2.2 Mailbox full", "deferred", 452, 0),
        ("disconnect", "uncertain", None, 1),
    ],
)
def test_an_smtp_fault_leaves_the_delivery_in_the_state_the_design_names(
    app: Flask, smtp_server: CaptureServer, fault: str, state: str, code: int | None, stored: int
) -> None:
    """5xx → failed with the code kept; 4xx → deferred with a next attempt; a connection lost
    after the message was transmitted → uncertain (the server did store it: it must not be
    resent silently). The event log shows queued → sending → that state."""
    smtp_server.handler.set_fault(fault, count=1)
    campaign_id = draft_campaign(app, {"countries": ["MT"], "groups": ["EPP"]})
    launch_campaign(app, campaign_id)
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            ids = list(
                session.scalars(
                    select(Delivery.id)
                    .where(Delivery.campaign_id == campaign_id)
                    .order_by(Delivery.id)
                )
            )
        transport = SmtpTransport(SmtpConfig.from_url(smtp_server.url, timeout=5))
        send_batch(
            db,
            ids[:1],
            transport,
            actor="test",
            default_from="letters@example.org",
            return_path="bounces@example.org",
        )
        transport.close()
        with db.transaction() as session:
            delivery = session.get(Delivery, ids[0])
            assert delivery is not None
            history = list(
                session.scalars(
                    select(DeliveryEvent.to_state)
                    .where(DeliveryEvent.delivery_id == delivery.id)
                    .order_by(DeliveryEvent.id)
                )
            )
            assert delivery.state == state
            assert delivery.last_smtp_code == code
            assert (delivery.next_attempt_at is not None) == (state == "deferred")
            assert delivery.sent_at is None
    assert history == ["queued", "sending", state]
    assert len(read_mailbox(smtp_server.handler.maildir)) == stored
