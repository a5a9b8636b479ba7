"""Claims, dispatch, pause, resume, cancel and progress: nothing lost, nothing sent twice.

A worker claims queued letters and moves each to `sending` only when it starts its SMTP
transaction; pause and cancel act on every letter not yet dispatched, within the request. Every
test asserts on what the real SMTP server received and on the rows in the database.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from contacts.base import utcnow
from outreach.campaigns import control
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.campaigns.reconcile import MAX_ABANDONED, reconcile
from outreach.campaigns.sending import claim, dispatch
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.conftest import (
    campaign_status,
    csrf_token_from,
    draft_campaign,
    launch_campaign,
    running_worker,
    wait_for,
)


def _states(app: Flask, campaign_id: int) -> Counter[str]:
    with app.app_context():
        return Counter(
            get_db().session.scalars(
                select(Delivery.state).where(Delivery.campaign_id == campaign_id)
            )
        )


def _received(smtp_server: CaptureServer) -> Counter[str]:
    return Counter(a for m in read_mailbox(smtp_server.handler.maildir) for a in m.envelope_to)


def _ids(app: Flask, campaign_id: int) -> list[int]:
    with app.app_context():
        return list(
            get_db().session.scalars(
                select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
            )
        )


def test_a_letter_claimed_before_a_pause_is_not_dispatched_after_it(app: Flask) -> None:
    """A worker holds a batch (claimed, not yet dispatched); staff pause: the worker's dispatch
    finds nothing to send, and the letters are held."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    ids = _ids(app, campaign_id)
    with app.app_context(), get_db().transaction() as session:
        assert claim(session, ids, token="w1", sender_domain="example.org") == ids
        # A second worker given the same ids gets none of them.
        assert claim(session, ids, token="w2", sender_domain="example.org") == []
    with app.app_context(), get_db().transaction() as session:
        assert control.pause(session, campaign_id, actor="staff") == len(ids)
    with app.app_context(), get_db().transaction() as session:
        assert dispatch(session, ids, token="w1", actor="w1") == []
    assert _states(app, campaign_id) == Counter({"held": len(ids)})


def test_a_worker_that_died_before_dispatch_leaves_nothing_uncertain_and_a_poison_letter_fails(
    app: Flask,
) -> None:
    """Claims that expire before dispatch (the worker died while rendering) are freed and the
    letters queued again, not flagged uncertain; a letter whose worker dies on it three times
    fails with the reason, instead of stopping workers for ever."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    ids = _ids(app, campaign_id)
    poison, others = ids[0], ids[1:]
    for round_ in range(1, MAX_ABANDONED + 1):
        with app.app_context(), get_db().transaction() as session:
            held = [poison] if round_ > 1 else ids
            assert claim(session, held, token=f"w{round_}", sender_domain="example.org") == held
        with app.app_context(), get_db().transaction() as session:
            report = reconcile(session, batch_size=10, now=utcnow() + timedelta(minutes=11))
        assert report.uncertain == 0
        if round_ < MAX_ABANDONED:
            assert report.abandoned == len(held)
    assert report.poisoned == 1
    assert _states(app, campaign_id) == Counter({"failed": 1, "queued": len(others)})
    with app.app_context():
        session = get_db().session
        row = session.get(Delivery, poison)
        assert row is not None
        assert (row.abandoned_claims, row.attempts, row.claim_token) == (MAX_ABANDONED, 0, None)
        detail = session.scalars(
            select(DeliveryEvent.detail).where(
                DeliveryEvent.delivery_id == poison, DeliveryEvent.to_state == "failed"
            )
        ).one()
    assert "stopped 3 times" in (detail or "")


def test_a_drive_paused_mid_way_and_resumed_reaches_each_official_exactly_once(
    app: Flask, smtp_server: CaptureServer
) -> None:
    """Fault test 7. The server takes 0.15 s a letter; after the first letters arrive, staff
    pause: within the pause no new letter leaves (at most the two on the wire finish), the rest
    are held; after resume the drive finishes and every official has exactly one letter."""
    campaign_id = draft_campaign(app, {"countries": ["DE"]})  # 96 MEPs
    launch_campaign(app, campaign_id, batch_size=5)
    total = sum(_states(app, campaign_id).values())
    smtp_server.handler.set_fault("slow", delay=0.15)
    with running_worker(app):
        wait_for(lambda: len(_received(smtp_server)) >= 10, timeout=30, interval=0.05)
        with app.app_context(), get_db().transaction() as session:
            held = control.pause(session, campaign_id, actor="staff")
        at_pause = len(_received(smtp_server))
        time.sleep(1.5)  # ten letters' time at the server
        after = len(_received(smtp_server))
        assert after - at_pause <= 2  # only letters already dispatched finish
        states = _states(app, campaign_id)
        assert states["held"] >= held - 2 > 0
        assert set(states) <= {"sent", "held", "sending"}
        assert campaign_status(app, campaign_id) == "paused"
        with app.app_context(), get_db().transaction() as session:
            control.resume(session, campaign_id, actor="staff", batch_size=5)
        wait_for(lambda: campaign_status(app, campaign_id) == "finished", timeout=60)
    received = _received(smtp_server)
    assert len(received) == total
    assert set(received.values()) == {1}
    assert _states(app, campaign_id) == Counter({"sent": total})


def test_a_cancelled_drive_sends_nothing_more_and_keeps_what_went_out(
    app: Flask, smtp_server: CaptureServer
) -> None:
    campaign_id = draft_campaign(app, {"countries": ["DE"]})
    launch_campaign(app, campaign_id, batch_size=5)
    smtp_server.handler.set_fault("slow", delay=0.1)
    with running_worker(app):
        wait_for(lambda: len(_received(smtp_server)) >= 5, timeout=30, interval=0.05)
        with app.app_context(), get_db().transaction() as session:
            control.cancel(session, campaign_id, actor="staff")
        time.sleep(1)
        settled = len(_received(smtp_server))
        time.sleep(1)
        assert len(_received(smtp_server)) == settled
    states = _states(app, campaign_id)
    assert states["sent"] == settled
    assert set(states) == {"sent", "cancelled"}
    assert campaign_status(app, campaign_id) == "cancelled"
    with app.app_context(), get_db().transaction() as session, pytest.raises(control.ControlError):
        control.resume(session, campaign_id, actor="staff", batch_size=5)


def test_progress_counts_states_and_estimates_the_finish_from_the_recent_rate(app: Flask) -> None:
    campaign_id = draft_campaign(app, {"countries": ["DE"]})
    launch_campaign(app, campaign_id)
    ids = _ids(app, campaign_id)
    now = utcnow()
    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:40]))
            .values(state="sent", sent_at=now - timedelta(minutes=5))
        )
        p = control.progress(session, campaign_id, now=now)
    assert p.total == len(ids)
    assert p.counts == {"sent": 40, "queued": len(ids) - 40}
    assert p.per_minute == pytest.approx(4.0)  # 40 letters in the last 10 minutes
    assert p.remaining == len(ids) - 40
    assert p.finish_at is not None
    assert p.finish_at - now == timedelta(minutes=(len(ids) - 40) / 4)
    assert p.percent == int(100 * 40 / len(ids))


def test_staff_pause_resume_and_cancel_from_the_campaign_page(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The buttons work through the console (CSRF included), and say what they did; the progress
    endpoint answers JSON for the page's live line."""
    client = login("campaigner")
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    page = client.get(f"/campaigns/{campaign_id}")
    assert b">Pause</button>" in page.data
    token = csrf_token_from(page.get_data(as_text=True))
    done = client.post(
        f"/campaigns/{campaign_id}/pause", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Paused: 6 letters held." in done.get_data(as_text=True)
    assert campaign_status(app, campaign_id) == "paused"
    again = client.post(
        f"/campaigns/{campaign_id}/pause", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Not done: only a sending campaign can be paused" in again.get_data(as_text=True)
    client.post(f"/campaigns/{campaign_id}/resume", data={"csrf_token": token})
    assert _states(app, campaign_id) == Counter({"queued": 6})
    progress = client.get(f"/campaigns/{campaign_id}/progress").get_json()
    assert progress["status"] == "sending"
    assert progress["counts"] == {"queued": 6}
    assert progress["remaining"] == 6
    client.post(f"/campaigns/{campaign_id}/cancel", data={"csrf_token": token})
    assert _states(app, campaign_id) == Counter({"cancelled": 6})
    with app.app_context():
        assert get_db().session.get(Campaign, campaign_id).status == "cancelled"  # type: ignore[union-attr]
    refused = client.post(f"/campaigns/{campaign_id}/cancel")  # no CSRF token
    assert refused.status_code == 400


def test_deferred_letters_fail_once_their_campaign_deadline_has_passed(app: Flask) -> None:
    """Retried with backoff until the campaign's deadline, then failed, with the reason."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    ids = _ids(app, campaign_id)
    now = utcnow()
    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:2]))
            .values(state="deferred", attempts=1, next_attempt_at=now + timedelta(hours=1))
        )
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        control.set_sending_options(
            campaign, pace_hours=None, office_hours=False, deadline=now + timedelta(minutes=30)
        )
    with app.app_context(), get_db().transaction() as session:
        assert reconcile(session, batch_size=10, now=now).failed == 0
    with app.app_context(), get_db().transaction() as session:
        assert reconcile(session, batch_size=10, now=now + timedelta(minutes=31)).failed == 2
        details = set(
            session.scalars(
                select(DeliveryEvent.detail).where(
                    DeliveryEvent.delivery_id.in_(ids[:2]), DeliveryEvent.to_state == "failed"
                )
            )
        )
    assert details == {"past the campaign's deadline"}
    assert _states(app, campaign_id)["failed"] == 2


def test_the_campaign_form_saves_the_pace_office_hours_and_deadline(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("campaigner")
    token = csrf_token_from(client.get("/campaigns/new").get_data(as_text=True))
    resp = client.post(
        "/campaigns/new",
        data={
            "csrf_token": token,
            "name": "Paced",
            "subject": "Hello",
            "language": "en",
            "body": "{{ salutation }}",
            "addressing": "individual",
            "pace_hours": "6",
            "office_hours": "y",
            "deadline": "2026-12-24T18:00",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        campaign = get_db().session.scalars(select(Campaign)).one()
        assert (campaign.pace_hours, campaign.office_hours) == (6, True)
        assert campaign.deadline is not None
        assert campaign.deadline.replace(tzinfo=None).isoformat() == "2026-12-24T18:00:00"
        campaign_id = campaign.id
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "spread over 6 hours, only in office hours" in page
    assert "retried until 24 Dec 2026 18:00 UTC" in page
    bad = client.post(
        f"/campaigns/{campaign_id}/edit",
        data={
            "csrf_token": token,
            "name": "Paced",
            "subject": "Hello",
            "language": "en",
            "body": "{{ salutation }}",
            "addressing": "individual",
            "pace_hours": "0",
        },
    )
    assert bad.status_code == 400
