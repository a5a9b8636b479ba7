"""Joint letters: one message To the addressees with a joint salutation and a Cc list, and
individual copies to the rest of the audience that say whom the letter was addressed to."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from contacts.address import salutation
from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.models import Delivery
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.conftest import campaign_status, launch_campaign, wait_for

BODY = """{{ salutation }}

{% if copied %}This letter was addressed to {{ addressed_to }}; we send you a copy.

{% endif %}We ask the institutions to put human rights on the summit's agenda.
"""


def test_a_joint_letter_is_one_message_to_the_addressees_and_copies_go_to_the_others(
    app: Flask, smtp_server: CaptureServer, worker: object
) -> None:
    """The EP President and a Vice-President receive ONE message (both in To, a third MEP in
    Cc) greeting both; the other Maltese MEPs each receive their own copy naming the
    addressees (the President, Maltese herself, is not sent a copy of her own letter); the SMTP
    server holds exactly 6 messages and all 8 deliveries end `sent`."""
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)

            def by_position(text: str) -> Contact:
                return session.scalars(
                    select(Contact).where(Contact.position.like(f"{text}%")).order_by(Contact.id)
                ).first()  # type: ignore[return-value]

            president = by_position("President of the European Parliament")
            vice = by_position("Vice-President of the European Parliament")
            cc = session.scalars(
                select(Contact).where(Contact.country_code == "LU", Contact.kind == "mep")
            ).first()
            assert president
            assert vice
            assert cc
            addressee_ids = [president.id, vice.id]
            campaign_id = services.create_campaign(
                session,
                name="Summit",
                subject="Human rights at the summit",
                body=BODY,
                audience={"filter": "country:MT"},
                addressing="joint",
                joint_to=addressee_ids,
                joint_cc=[cc.id],
            ).id
            names = {c.id: c for c in (president, vice, cc)}
        result = launch_campaign(app, campaign_id)
        assert president.country_code == "MT"
        assert result.deliveries == 8

        def all_sent() -> bool:
            with db.transaction() as s:
                return (
                    s.scalar(
                        select(func.count()).where(
                            Delivery.campaign_id == campaign_id, Delivery.state == "sent"
                        )
                    )
                    == 8
                )

        wait_for(all_sent, timeout=60)
        with db.transaction() as session:
            joint = list(
                session.scalars(
                    select(Delivery).where(
                        Delivery.campaign_id == campaign_id, Delivery.group_key.is_not(None)
                    )
                )
            )
    captured = read_mailbox(smtp_server.handler.maildir)
    assert len(captured) == 6
    joint_messages = [m for m in captured if len(m.envelope_to) == 3]
    assert len(joint_messages) == 1
    message = joint_messages[0]
    assert set(message.envelope_to) == {names[i].email for i in (*addressee_ids, cc.id)}
    assert president.email in str(message.message["To"])
    assert vice.email in str(message.message["To"])
    assert cc.email in str(message.message["Cc"])
    first_line = message.body_text.splitlines()[0]
    assert first_line.startswith(f"Dear President {president.family_name}")
    assert "Dear Vice-President" in first_line
    assert "we send you a copy" not in message.body_text
    assert {d.message_id for d in joint} == {message.message["Message-ID"]}
    assert {d.role for d in joint} == {"to", "cc"}
    copies = [m for m in captured if len(m.envelope_to) == 1]
    assert len(copies) == 5
    for copy in copies:
        assert "This letter was addressed to" in copy.body_text
        assert president.display_name in copy.body_text
        assert vice.display_name in copy.body_text


def test_the_check_renders_the_joint_message_once_and_each_copy(app: Flask) -> None:
    """Lint counts the joint message as one copy plus one per copied official, and an addressee
    who cannot be written to stops the check with a message naming them."""
    from outreach.campaigns.models import Campaign

    with app.app_context():
        session = get_db().factory()
        load_bundled(session)
        leaders = list(session.scalars(select(Contact).where(Contact.kind == "institution_leader")))
        meps = list(
            session.scalars(
                select(Contact).where(Contact.country_code == "LU", Contact.kind == "mep")
            )
        )
        campaign = services.create_campaign(
            session, name="Joint", subject="Hi", body=BODY, audience={"filter": "country:LU"},
            addressing="joint", joint_to=[meps[0].id, meps[1].id],
        )  # fmt: skip
        session.commit()
        report = services.lint(session, campaign)
        assert report.recipients == 1 + len(meps) - 2
        assert report.errors == 0
        campaign.joint_to = [leaders[0].id]  # von der Leyen has no address in the bundled data
        session.commit()
        with pytest.raises(services.CampaignError, match=r"addressees: .* cannot be written to"):
            services.lint(session, session.get(Campaign, campaign.id))  # type: ignore[arg-type]
        session.close()


def test_a_copied_recipient_retried_alone_gets_the_same_joint_message_once(
    app: Flask, smtp_server: CaptureServer, worker: object
) -> None:
    """The joint message went out, but the Cc recipient's copy was deferred: when it is retried,
    the server receives the same message (To and Cc name everyone) for that recipient only,
    and the campaign finishes."""
    from datetime import timedelta

    from sqlalchemy import update

    from contacts.base import utcnow
    from outreach.campaigns.reconcile import reconcile

    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)
            lu = list(
                session.scalars(
                    select(Contact).where(Contact.country_code == "LU", Contact.kind == "mep")
                )
            )
            campaign_id = services.create_campaign(
                session, name="Joint", subject="Hi", body=BODY, audience={"filter": "id:999999"},
                addressing="joint", joint_to=[lu[0].id, lu[1].id], joint_cc=[lu[2].id],
            ).id  # fmt: skip
        smtp_server.handler.set_fault("451 4.3.0 try later", count=1)
        launch_campaign(app, campaign_id)

        def states() -> list[str]:
            with db.transaction() as s:
                return sorted(
                    s.scalars(select(Delivery.state).where(Delivery.campaign_id == campaign_id))
                )

        wait_for(lambda: states() == ["deferred"] * 3)
        # The relay took the message for the two addressees later (by hand here), not yet the Cc.
        with db.transaction() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.campaign_id == campaign_id, Delivery.role == "to")
                .values(state="sent")
            )
        with db.transaction() as session:
            assert reconcile(session, batch_size=10, now=utcnow() + timedelta(hours=1)).retried == 1
        wait_for(lambda: states() == ["sent"] * 3)
        # The worker marks the campaign finished in its own transaction after the outcome's.
        wait_for(lambda: campaign_status(app, campaign_id) != "sending", timeout=30)
        status = campaign_status(app, campaign_id)
    captured = read_mailbox(smtp_server.handler.maildir)
    assert len(captured) == 1
    message = captured[0]
    assert message.envelope_to == [lu[2].email]
    assert lu[0].email in str(message.message["To"])
    assert lu[1].email in str(message.message["To"])
    assert lu[2].email in str(message.message["Cc"])
    assert status == "finished"


def test_the_preview_shows_the_joint_message_to_its_members_and_the_copy_to_others(
    app: Flask,
) -> None:
    """Previewing an addressee or a copied recipient shows the joint message (joint greeting);
    previewing anyone else shows their copy, which says whom it was addressed to."""
    from outreach.campaigns.models import Campaign

    with app.app_context():
        session = get_db().factory()
        load_bundled(session)
        lu = list(
            session.scalars(
                select(Contact).where(Contact.country_code == "LU", Contact.kind == "mep")
            )
        )
        campaign = services.create_campaign(
            session, name="Joint", subject="Hi", body=BODY, audience={"filter": "country:LU"},
            addressing="joint", joint_to=[lu[0].id, lu[1].id], joint_cc=[lu[2].id],
        )  # fmt: skip
        session.commit()
        campaign = session.get(Campaign, campaign.id)
        assert campaign is not None
        cc_view = services.preview(session, campaign, lu[2])
        other = services.preview(session, campaign, lu[3])
        session.close()
    first_line = cc_view.text.splitlines()[0]
    assert lu[0].family_name in first_line
    assert lu[1].family_name in first_line
    assert "we send you a copy" not in cc_view.text
    assert other.text.splitlines()[0] == salutation(lu[3])
    assert "This letter was addressed to" in other.text
