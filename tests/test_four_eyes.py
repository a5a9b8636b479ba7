"""Four-eyes launches: above OUTREACH_FOUR_EYES_THRESHOLD recipients a launch waits for a second
person's approval (a campaigner or an admin, never the one who asked), and the approval holds
only for the letter and audience approved: an edit afterwards voids it. The console and the API
both ask; the assertions are on the rows in the database and on the campaign page."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.base import utcnow
from outreach.audit import AuditEvent
from outreach.campaigns import services
from outreach.campaigns.approval import LaunchApproval, approval_required
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from tests.api_support import bearer, token_for
from tests.conftest import count_rows, csrf_token_from, draft_campaign

MALTA = {"filter": "country:MT"}  # the bundled directory's six Maltese MEPs


def with_threshold(app: Flask, n: int) -> None:
    app.config["OUTREACH"] = dataclasses.replace(app.config["OUTREACH"], four_eyes_threshold=n)


def signed_in(app: Flask, email: str, role: str, make_user: Callable[..., object]) -> FlaskClient:
    make_user(email=email, role=role)
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login", data={"email": email, "password": "correct horse battery", "csrf_token": token}
    )
    assert resp.status_code == 302
    return client


def launch(app: Flask, client: FlaskClient, campaign_id: int) -> str:
    """Press launch as from the check page (warnings read and confirmed); the flash shown."""
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        digest = services.lint(session, campaign).digest
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    resp = client.post(
        f"/campaigns/{campaign_id}/launch",
        data={"csrf_token": csrf_token_from(page), "lint_digest": digest, "confirm": "y"},
    )
    assert resp.status_code == 302
    return client.get(resp.headers["Location"]).get_data(as_text=True)


def approve(client: FlaskClient, campaign_id: int) -> str:
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    fingerprint = re.search(r'name="fingerprint" value="(\w+)"', page)
    assert fingerprint, "no approve button on the page"
    resp = client.post(
        f"/campaigns/{campaign_id}/approval/approve",
        data={"csrf_token": csrf_token_from(page), "fingerprint": fingerprint.group(1)},
    )
    return client.get(resp.headers["Location"]).get_data(as_text=True)


def requests(app: Flask, campaign_id: int) -> list[LaunchApproval]:
    with app.app_context():
        return list(
            get_db().session.scalars(
                select(LaunchApproval)
                .where(LaunchApproval.campaign_id == campaign_id)
                .order_by(LaunchApproval.id)
            )
        )


def test_the_threshold_decides_and_zero_turns_it_off() -> None:
    campaign = Campaign(supporter_letters=False)
    assert approval_required(campaign, 101, threshold=100)
    assert not approval_required(campaign, 100, threshold=100)
    assert not approval_required(campaign, 10_000, threshold=0)
    assert not approval_required(Campaign(supporter_letters=True), 500, threshold=100)


def test_a_big_launch_waits_for_a_second_person_then_goes(
    app: Flask, make_user: Callable[..., object]
) -> None:
    """Six letters over a threshold of five: the launcher's press records a request and queues
    nothing; the page says it waits for a second person and offers the launcher no approve
    button (and refuses their POST); a viewer cannot approve; another campaigner approves, and
    the launcher's next press launches the six letters."""
    with_threshold(app, 5)
    campaign_id = draft_campaign(app, MALTA)
    alice = signed_in(app, "alice@example.org", "campaigner", make_user)
    page = launch(app, alice, campaign_id)
    assert "Waiting for approval by a second person" in page
    assert 'name="fingerprint"' not in page
    assert count_rows(app, Delivery) == 0
    [request] = requests(app, campaign_id)
    assert request.recipients == 6
    assert request.approved_at is None

    own = alice.post(
        f"/campaigns/{campaign_id}/approval/approve",
        data={"csrf_token": csrf_token_from(page), "fingerprint": request.fingerprint},
    )
    assert "the person who asked cannot approve" in alice.get(own.headers["Location"]).get_data(
        as_text=True
    )
    viewer = signed_in(app, "vera@example.org", "viewer", make_user)
    vpage = viewer.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'name="fingerprint"' not in vpage
    assert (
        viewer.post(
            f"/campaigns/{campaign_id}/approval/approve",
            data={"csrf_token": csrf_token_from(vpage), "fingerprint": request.fingerprint},
        ).status_code
        == 403
    )
    assert requests(app, campaign_id)[0].approved_at is None

    bob = signed_in(app, "bob@example.org", "campaigner", make_user)
    assert "approved the launch of 6 letters" in approve(bob, campaign_id)
    page = launch(app, alice, campaign_id)
    assert "Launched: 6 letters queued" in page
    assert count_rows(app, Delivery) == 6


def test_editing_the_letter_after_approval_voids_it(
    app: Flask, make_user: Callable[..., object]
) -> None:
    """An approved launch whose letter is edited afterwards no longer launches: the page says
    the approval is void, launching asks anew, and a page showing the old version cannot
    approve the new one."""
    with_threshold(app, 5)
    campaign_id = draft_campaign(app, MALTA)
    alice = signed_in(app, "alice@example.org", "campaigner", make_user)
    bob = signed_in(app, "bob@example.org", "admin", make_user)
    launch(app, alice, campaign_id)
    stale_page = bob.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    approve(bob, campaign_id)
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.body_template = "{{ salutation }}\n\nA different letter."
    assert "changed since the approval" in alice.get(f"/campaigns/{campaign_id}").get_data(
        as_text=True
    )
    page = launch(app, alice, campaign_id)
    assert "Waiting for approval by a second person" in page
    assert count_rows(app, Delivery) == 0
    old, new = requests(app, campaign_id)
    assert old.withdrawn_at is not None
    assert new.approved_at is None
    # Bob's page from before the edit carries the old fingerprint: refused.
    old_fingerprint = re.search(r'name="fingerprint" value="(\w+)"', stale_page)
    assert old_fingerprint
    resp = bob.post(
        f"/campaigns/{campaign_id}/approval/approve",
        data={"csrf_token": csrf_token_from(stale_page), "fingerprint": old_fingerprint.group(1)},
    )
    assert "changed since the request" in bob.get(resp.headers["Location"]).get_data(as_text=True)
    assert requests(app, campaign_id)[-1].approved_at is None


def test_the_api_launch_asks_for_approval_too(app: Flask, make_user: Callable[..., object]) -> None:
    """POST /api/v1/campaigns/<id>/launch above the threshold answers 409 "Approval required"
    and records the request; after a second person's approval in the console it launches."""
    with_threshold(app, 5)
    campaign_id = draft_campaign(app, MALTA)
    token = token_for(app, "campaigner")
    client = app.test_client()
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        digest = services.lint(session, campaign).digest
    resp = client.post(
        f"/api/v1/campaigns/{campaign_id}/launch",
        json={"confirm_warnings": digest},
        headers=bearer(token),
    )
    assert resp.status_code == 409
    assert resp.get_json()["title"] == "Approval required"
    assert len(requests(app, campaign_id)) == 1
    bob = signed_in(app, "bob@example.org", "campaigner", make_user)
    approve(bob, campaign_id)
    resp = client.post(
        f"/api/v1/campaigns/{campaign_id}/launch",
        json={"confirm_warnings": digest},
        headers=bearer(token),
    )
    assert resp.status_code == 202, resp.get_json()
    assert count_rows(app, Delivery) == 6
    # The central audit hook records API requests too, with the token's user.
    with app.app_context():
        [launched] = (
            get_db()
            .session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.launch"))
            .all()
        )
    assert launched.summary == f"API: Launched campaign {campaign_id}"
    assert launched.detail == "6 letters queued"
    assert launched.actor.endswith("campaigner-write@example.org")


def test_a_big_drive_is_approved_before_it_is_scheduled_and_again_checked_when_due(
    app: Flask, make_user: Callable[..., object]
) -> None:
    """Scheduling six letters over a threshold of five asks a second person first and schedules
    nothing; once another campaigner approved, the drive is scheduled. The letter edited after
    that: when the moment comes, the maintenance pass refuses the launch (the approval no longer
    matches), leaves a draft with the reason, and no delivery exists."""
    from outreach.campaigns.schedule import launch_due

    with_threshold(app, 5)
    campaign_id = draft_campaign(app, MALTA)
    alice = signed_in(app, "alice@example.org", "campaigner", make_user)
    bob = signed_in(app, "bob@example.org", "campaigner", make_user)
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        digest = services.lint(session, campaign).digest
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    def schedule_it() -> str:
        page = alice.get(f"/campaigns/{campaign_id}/launch").get_data(as_text=True)
        resp = alice.post(
            f"/campaigns/{campaign_id}/schedule",
            data={"csrf_token": csrf_token_from(page), "at": tomorrow, "lint_digest": digest,
                  "confirm": "y"},
            follow_redirects=True,
        )  # fmt: skip
        return resp.get_data(as_text=True)

    page = schedule_it()
    assert "Not scheduled" in page
    assert "Waiting for approval by a second person" in page
    with app.app_context():
        assert get_db().session.get(Campaign, campaign_id).scheduled_at is None  # type: ignore[union-attr]
    assert [r.recipients for r in requests(app, campaign_id)] == [6]

    approve(bob, campaign_id)
    assert "Scheduled: the drive will be launched" in schedule_it()

    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.body_template = "{{ salutation }}\n\nA different letter."
        campaign.scheduled_at = utcnow() - timedelta(seconds=1)
    with app.app_context():
        report = launch_due(get_db(), batch_size=10, four_eyes_threshold=5)
    assert list(report.refused) == [campaign_id]
    assert "a second person must approve" in report.refused[campaign_id]
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.status, campaign.scheduled_at) == ("draft", None)
        assert "a second person must approve" in (campaign.schedule_error or "")
    assert count_rows(app, Delivery) == 0


def test_a_big_follow_up_is_scheduled_only_with_a_second_persons_approval(
    app: Flask, smtp_server: object, worker: object, make_user: Callable[..., object]
) -> None:
    """A drive of three letters, threshold two. Scheduling its follow-up records a request and
    schedules nothing; the asker cannot approve it, another campaigner does; editing the letter
    then voids the approval (the page says so) and scheduling asks anew. Once approved again it
    is scheduled, but edited after that, the sweep on its day refuses it: no letter is made, it
    is unscheduled and its page says why. Approved once more and scheduled, the sweep launches
    its three letters."""
    from outreach.followups.followup import launch_due_followups
    from tests.test_replies import sent_campaign

    with_threshold(app, 2)
    parent_id, _deliveries = sent_campaign(app, smtp_server)  # type: ignore[arg-type]
    alice = signed_in(app, "alice@example.org", "campaigner", make_user)
    bob = signed_in(app, "bob@example.org", "campaigner", make_user)
    replies_page = alice.get(f"/campaigns/{parent_id}/replies").get_data(as_text=True)
    alice.post(
        f"/campaigns/{parent_id}/followups",
        data={"csrf_token": csrf_token_from(replies_page), "subject": "Re: Free them",
              "body": "{{ salutation }}\n\nMay we ask again?", "days": "5"},
    )  # fmt: skip
    with app.app_context():
        followup_id = (
            get_db()
            .session.scalars(select(Campaign.id).where(Campaign.parent_id == parent_id))
            .one()
        )
    page_url = f"/followups/{followup_id}"

    def press(client: FlaskClient, action: str, **data: str) -> str:
        page = client.get(page_url).get_data(as_text=True)
        resp = client.post(
            f"{page_url}/{action}", data={"csrf_token": csrf_token_from(page), **data}
        )
        assert resp.status_code == 302, resp.status_code
        return client.get(resp.headers["Location"]).get_data(as_text=True)

    def approve_followup(client: FlaskClient) -> str:
        page = client.get(page_url).get_data(as_text=True)
        seen = re.search(r'name="fingerprint" value="(\w+)"', page)
        assert seen, "no approve button on the follow-up's page"
        return press(client, "approval/approve", fingerprint=seen.group(1))

    def scheduled() -> bool:
        with app.app_context():
            followup = get_db().session.get(Campaign, followup_id)
            assert followup is not None
            return followup.followup_scheduled_at is not None

    def edit_letter(body: str) -> None:
        """What the campaign editor does to the follow-up's letter."""
        with app.app_context(), get_db().transaction() as session:
            followup = session.get(Campaign, followup_id)
            assert followup is not None
            followup.body_template = body

    page = press(alice, "schedule")
    assert "Waiting for approval by a second person" in page
    assert not scheduled()
    [request] = requests(app, followup_id)
    assert (request.recipients, request.approved_at) == (3, None)
    assert 'name="fingerprint"' not in page  # the asker has no approve button
    own = press(alice, "approval/approve", fingerprint=request.fingerprint)
    assert "the person who asked cannot approve" in own
    assert "approved this follow-up of up to 3 letters" in approve_followup(bob)

    edit_letter("{{ salutation }}\n\nMay we ask once more?")
    assert "The letter changed since the approval" in alice.get(page_url).get_data(as_text=True)
    assert "Waiting for approval by a second person" in press(alice, "schedule")
    assert not scheduled()
    approve_followup(bob)
    assert "Scheduled" in press(alice, "schedule")
    assert scheduled()

    edit_letter("{{ salutation }}\n\nA third wording.")
    later = utcnow() + timedelta(days=5, minutes=1)
    with app.app_context(), get_db().transaction() as session:
        swept = launch_due_followups(session, batch_size=10, now=later, four_eyes_threshold=2)
    assert swept.launched == {}
    assert "edited after its approval" in swept.refused[followup_id]
    assert not scheduled()
    assert count_rows(app, Delivery) == 3  # the drive's letters only
    page = alice.get(page_url).get_data(as_text=True)
    assert "Not launched at its time" in page
    assert "the follow-up was edited after its approval" in page

    assert "Waiting for approval" in press(alice, "schedule")
    approve_followup(bob)
    press(alice, "schedule")
    with app.app_context(), get_db().transaction() as session:
        swept = launch_due_followups(session, batch_size=10, now=later, four_eyes_threshold=2)
    assert swept.launched == {followup_id: 3}
    assert "Not launched at its time" not in alice.get(page_url).get_data(as_text=True)
    with app.app_context():
        actions = list(
            get_db().session.scalars(
                select(AuditEvent.action).where(AuditEvent.object_id == str(followup_id))
            )
        )
    assert actions.count("campaign.approve") == 3
    assert actions.count("followup.schedule") == 2  # the blocked presses are not schedules
