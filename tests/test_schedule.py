"""Scheduling a drive: staff choose a later time in the console; the maintenance pass (the
reconciler's actor, run by a real dramatiq worker) launches it then through the same launch
service, with the same checks, and the real SMTP server receives the letters. A launch refused at
that time leaves a draft with the reason on its page; an unscheduled draft is never launched.

The scheduled moment is set in the future through the console, then moved into the past in the
database: that is how these tests let time pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery
from outreach.campaigns.schedule import launch_due
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.jobs import RECONCILE, broker_dispatcher
from tests.conftest import csrf_token_from, draft_campaign, running_worker, wait_for

BODY = "{{ salutation }}\n\nWe write to you, {{ recipient.display_name }}, about press freedom."


def _schedule(client: FlaskClient, campaign_id: int, at: str, **extra: str) -> str:
    page = client.get(f"/campaigns/{campaign_id}/launch").get_data(as_text=True)
    resp = client.post(
        f"/campaigns/{campaign_id}/schedule",
        data={"csrf_token": csrf_token_from(page), "at": at, **extra},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _campaign(app: Flask, campaign_id: int) -> Campaign:
    with app.app_context():
        session = get_db().session
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        session.expunge(campaign)
        return campaign


def _time_passes(app: Flask, campaign_id: int) -> None:
    """The scheduled moment is now in the past."""
    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(scheduled_at=utcnow() - timedelta(seconds=1))
        )


def _malta(app: Flask) -> set[str]:
    with app.app_context():
        return set(
            get_db().session.scalars(
                select(Contact.email).where(Contact.country_code == "MT", Contact.kind == "mep")
            )
        )


def test_a_scheduled_drive_is_launched_by_the_maintenance_pass_and_its_letters_arrive(
    app: Flask, login: Callable[..., FlaskClient], smtp_server: CaptureServer
) -> None:
    """Scheduled for tomorrow, the draft stays a draft and its page says when; once the moment
    has passed, the reconciler's actor in a real worker launches it, and the SMTP server receives
    one letter for each of the six Maltese MEPs."""
    client = login("admin")
    campaign_id = draft_campaign(app, {"filter": "kind:mep and country:MT"}, body=BODY)
    when = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    page = _schedule(client, campaign_id, when.strftime("%Y-%m-%dT%H:%M"))
    assert f"Scheduled: the drive will be launched on {when:%d %b %Y at %H:%M} UTC." in page
    campaign = _campaign(app, campaign_id)
    assert campaign.status == "draft"
    assert campaign.scheduled_at is not None
    assert campaign.scheduled_at.replace(tzinfo=UTC) == when  # naive on SQLite, UTC on PostgreSQL
    assert campaign.scheduled_by == "user:1 admin@example.org"

    # Not due yet: a pass launches nothing.
    with app.app_context():
        assert not launch_due(get_db(), batch_size=10)
    assert _campaign(app, campaign_id).status == "draft"

    _time_passes(app, campaign_id)
    with running_worker(app) as worker:
        broker_dispatcher(worker.broker)(RECONCILE, ())
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 6, timeout=60)
    received = read_mailbox(smtp_server.handler.maildir)
    assert {m.envelope_to[0] for m in received} == _malta(app)
    campaign = _campaign(app, campaign_id)
    assert campaign.status in ("sending", "finished")
    assert campaign.schedule_error is None
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "as scheduled for" in page


def test_a_launch_refused_at_the_scheduled_time_leaves_a_draft_with_the_reason_shown(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """A letter that is the same for everyone draws a warning from the check. Scheduled without
    confirming it, the launch at the scheduled time is refused like a launch now would be: no
    delivery exists, the campaign is a draft again, unscheduled, and its page says why."""
    client = login("admin")
    campaign_id = draft_campaign(
        app, {"filter": "kind:mep and country:MT"}, body="Dear Member,\n\nThe same for all."
    )
    when = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    _schedule(client, campaign_id, when)
    _time_passes(app, campaign_id)
    with app.app_context():
        report = launch_due(get_db(), batch_size=10)
    assert list(report.refused) == [campaign_id]
    assert "warning" in report.refused[campaign_id]
    campaign = _campaign(app, campaign_id)
    assert (campaign.status, campaign.scheduled_at) == ("draft", None)
    assert campaign.schedule_error is not None
    assert campaign.schedule_error.startswith("Not launched at the scheduled time")
    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(Delivery)) == 0
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert campaign.schedule_error in page.replace("&#39;", "'")
    assert 'data-step="launch" data-state="attention"' in page


def test_warnings_confirmed_when_scheduling_let_the_scheduled_launch_go(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The launch page offers the stored check's warnings to confirm; confirmed there, the same
    letter is launched at the scheduled time; a second pass launches nothing more."""
    client = login("admin")
    campaign_id = draft_campaign(
        app, {"filter": "kind:mep and country:MT"}, body="Dear Member,\n\nThe same for all."
    )
    client.get(f"/campaigns/{campaign_id}/check")  # the check is stored, with its warnings
    page = client.get(f"/campaigns/{campaign_id}/launch").get_data(as_text=True)
    assert "I have read the 1 warning of the check" in page
    digest = _campaign(app, campaign_id).check_digest
    assert digest is not None
    when = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    _schedule(client, campaign_id, when, lint_digest=digest, confirm="y")
    assert _campaign(app, campaign_id).scheduled_digest == digest
    _time_passes(app, campaign_id)
    with app.app_context():
        first = launch_due(get_db(), batch_size=10)
        second = launch_due(get_db(), batch_size=10)
    assert first.launched == {campaign_id: 6}
    assert not second
    assert _campaign(app, campaign_id).status == "sending"


def test_an_unscheduled_draft_is_not_launched(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("admin")
    campaign_id = draft_campaign(app, {"filter": "kind:mep and country:MT"}, body=BODY)
    when = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = _schedule(client, campaign_id, when)
    assert "Unschedule" in page
    resp = client.post(
        f"/campaigns/{campaign_id}/unschedule",
        data={"csrf_token": csrf_token_from(page)},
        follow_redirects=True,
    )
    assert "No longer scheduled: the campaign stays a draft." in resp.get_data(as_text=True)
    assert _campaign(app, campaign_id).scheduled_at is None
    with app.app_context(), get_db().transaction() as session:
        session.execute(update(Campaign).values(scheduled_at=None))
        assert not launch_due(get_db(), batch_size=10, now=utcnow() + timedelta(days=2))
    assert _campaign(app, campaign_id).status == "draft"


def test_a_time_in_the_past_or_an_empty_audience_is_refused_when_scheduling(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("admin")
    campaign_id = draft_campaign(app, {"filter": "kind:mep and country:MT"}, body=BODY)
    page = _schedule(client, campaign_id, "2020-01-01T10:00")
    assert "Not scheduled: 01 Jan 2020 10:00 UTC has passed" in page
    empty = draft_campaign(app, {"contact_ids": [10**6]}, body=BODY, load_directory=False)
    when = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = _schedule(client, empty, when)
    assert "Not scheduled: the audience" in page
    assert "has no one who can be written to" in page.replace("&#39;", "'")
    assert _campaign(app, campaign_id).scheduled_at is None
    assert _campaign(app, empty).scheduled_at is None


def test_a_viewer_cannot_schedule(app: Flask, login: Callable[..., FlaskClient]) -> None:
    campaign_id = draft_campaign(app, {"filter": "kind:mep and country:MT"}, body=BODY)
    client = login("viewer")
    page = client.get(f"/campaigns/{campaign_id}/launch").get_data(as_text=True)
    assert "Schedule the launch" not in page
    resp = client.post(
        f"/campaigns/{campaign_id}/schedule",
        data={
            "csrf_token": csrf_token_from(client.get("/").get_data(as_text=True)),
            "at": "2099-01-01T10:00",
        },
    )
    assert resp.status_code == 403
    assert _campaign(app, campaign_id).scheduled_at is None
    with app.app_context():
        assert services.state_counts(get_db().session, [campaign_id]) == {campaign_id: {}}
