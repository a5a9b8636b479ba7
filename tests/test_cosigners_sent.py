"""Co-signers reach the letters the workers send, not only the preview and the check."""

from __future__ import annotations

from flask import Flask

from contacts.base import utcnow
from outreach.campaigns.models import Campaign, Delivery
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.supporters.models import Signature
from outreach.supporters.signing import record_notice
from tests.conftest import count_rows, draft_campaign, launch_campaign, wait_for


def test_the_sent_copies_name_the_confirmed_cosigners_who_agreed_and_count_them(
    app: Flask, smtp_server: CaptureServer, worker: object
) -> None:
    """Three confirmed signatures (two agreed to be named) and a pending one: every letter the
    SMTP server receives says 3 co-signers and names exactly the two."""
    campaign_id = draft_campaign(
        app,
        {"countries": ["MT"]},
        body="{{ salutation }}\n\n{{ cosigners.count }} people co-sign: "
        "{{ cosigners.names|join(', ') }}.",
    )
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.cosigner_display = "both"
        notice = record_notice(session, "We keep your name for this letter.")
        for n, state, named in [
            (1, "confirmed", True),
            (2, "confirmed", False),
            (3, "confirmed", True),
            (4, "pending", True),
        ]:
            session.add(
                Signature(campaign_id=campaign_id, name=f"Supporter {n}",
                          email=f"s{n}@example.org", country="MT", consent=True,
                          privacy_notice_sha256=notice, named=named, state=state, ip_hash="x",
                          confirmed_at=utcnow() if state == "confirmed" else None)
            )  # fmt: skip
    launch_campaign(app, campaign_id)
    wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 6)
    captured = read_mailbox(smtp_server.handler.maildir)
    texts = [m.message.get_body(("plain",)).get_content() for m in captured]  # type: ignore[union-attr]
    assert len(texts) == 6
    for text in texts:
        assert "3 people co-sign: Supporter 1, Supporter 3." in " ".join(text.split())
    assert count_rows(app, Delivery) == 6
