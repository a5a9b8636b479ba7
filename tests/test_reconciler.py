"""The reconciler makes the queue agree with the database: retries, lost jobs, expired leases,
and staff's decisions on uncertain deliveries. Every test asserts on what the SMTP server got."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from contacts.base import utcnow
from outreach.campaigns.models import Delivery, DeliveryEvent
from outreach.campaigns.reconcile import MAX_ATTEMPTS, reconcile, resolve_uncertain
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.conftest import draft_campaign, launch_campaign, wait_for


def _states(app: Flask, campaign_id: int) -> Counter[str]:
    with app.app_context():
        rows = get_db().session.scalars(
            select(Delivery.state).where(Delivery.campaign_id == campaign_id)
        )
        return Counter(rows)


def _run_reconciler(app: Flask, *, later: timedelta = timedelta(0)) -> object:
    with app.app_context(), get_db().transaction() as session:
        return reconcile(session, batch_size=10, now=utcnow() + later)


def _received(smtp_server: CaptureServer) -> Counter[str]:
    return Counter(m.envelope_to[0] for m in read_mailbox(smtp_server.handler.maildir))


def test_jobs_lost_by_redis_are_enqueued_again_and_each_letter_arrives_once(
    app: Flask, smtp_server: CaptureServer, redis_url: str
) -> None:
    """Launch, then Redis loses every queued job before a worker runs: the deliveries stay
    `queued` in the database; the reconciler enqueues them again and each official receives
    exactly one letter. A second pass (a duplicate job) sends nothing more."""
    import dramatiq

    from workers.broker import build_worker_broker

    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    assert _states(app, campaign_id) == Counter({"queued": 6})
    report = _run_reconciler(app, later=timedelta(minutes=6))
    assert report.requeued == 6  # type: ignore[attr-defined]
    _run_reconciler(app, later=timedelta(minutes=12))  # enqueues the same ids once more
    broker = build_worker_broker(app, set_global=False)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: _states(app, campaign_id) == Counter({"sent": 6}), timeout=60)
        worker.join()
    finally:
        worker.stop(timeout=10_000)
        broker.close()
    received = _received(smtp_server)
    assert len(received) == 6
    assert set(received.values()) == {1}


def test_a_temporary_failure_is_retried_when_due_and_arrives_once(
    app: Flask, smtp_server: CaptureServer, worker: object
) -> None:
    """A 451 defers one letter; nothing happens before it is due; when due, the reconciler
    queues it again and it arrives once. Its history shows the retry."""
    smtp_server.handler.set_fault("451 4.7.1 Greylisted, try again later", count=1)
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    wait_for(lambda: _states(app, campaign_id) == Counter({"sent": 5, "deferred": 1}))
    assert _run_reconciler(app).retried == 0  # type: ignore[attr-defined]
    assert _run_reconciler(app, later=timedelta(hours=1)).retried == 1  # type: ignore[attr-defined]
    wait_for(lambda: _states(app, campaign_id) == Counter({"sent": 6}))
    received = _received(smtp_server)
    assert len(received) == 6
    assert set(received.values()) == {1}
    with app.app_context():
        session = get_db().session
        retried = session.scalars(select(Delivery).where(Delivery.attempts == 2)).one()
        history = list(
            session.scalars(
                select(DeliveryEvent.to_state)
                .where(DeliveryEvent.delivery_id == retried.id)
                .order_by(DeliveryEvent.id)
            )
        )
    assert history == ["queued", "sending", "deferred", "queued", "sending", "sent"]


def test_an_expired_lease_becomes_uncertain_and_staff_decide(
    app: Flask, smtp_server: CaptureServer, worker: object
) -> None:
    """Two deliveries left `sending` by a dead worker become `uncertain` when their lease
    expires, never resent on their own; staff resend one (it arrives once) and mark the other
    sent (nothing is sent)."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    with app.app_context():
        session = get_db().factory()
        from outreach.campaigns import services

        campaign = session.get(services.Campaign, campaign_id)
        digest = services.lint(session, campaign).digest  # type: ignore[arg-type]
        services.launch(session, campaign_id, actor="t", batch_size=10, confirm_warnings=digest)
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))[:2]
        # A worker claimed these two and died: `sending` with a lease, never recorded.
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(state="sending", lease_expires_at=utcnow() + timedelta(minutes=10))
        )
        session.commit()
        session.close()
    wait_for(lambda: _states(app, campaign_id) == Counter({"sent": 4, "sending": 2}))
    assert _run_reconciler(app).uncertain == 0  # type: ignore[attr-defined]
    assert _run_reconciler(app, later=timedelta(minutes=11)).uncertain == 2  # type: ignore[attr-defined]
    assert _states(app, campaign_id) == Counter({"sent": 4, "uncertain": 2})
    assert len(_received(smtp_server)) == 4
    with app.app_context(), get_db().transaction() as session:
        assert (
            resolve_uncertain(session, [ids[0]], action="resend", actor="staff", batch_size=10) == 1
        )
        assert (
            resolve_uncertain(session, [ids[1]], action="mark_sent", actor="staff", batch_size=10)
            == 1
        )
    wait_for(lambda: _states(app, campaign_id) == Counter({"sent": 6}))
    received = _received(smtp_server)
    assert len(received) == 5  # the one marked sent was not sent again
    assert set(received.values()) == {1}


def test_a_letter_deferred_too_many_times_is_given_up(app: Flask) -> None:
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    with app.app_context(), get_db().transaction() as session:
        first = session.scalars(select(Delivery.id).order_by(Delivery.id)).first()
        session.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(state="deferred", attempts=MAX_ATTEMPTS, next_attempt_at=utcnow())
        )
    report = _run_reconciler(app, later=timedelta(seconds=1))
    assert report.failed == 1  # type: ignore[attr-defined]
    assert _states(app, campaign_id)["failed"] == 1


def test_the_timer_in_the_worker_runs_the_reconciler_by_itself(
    app: Flask, smtp_server: CaptureServer
) -> None:
    """With an interval of one second, a worker's timer enqueues the reconciler, which flags an
    expired lease without anyone calling it."""
    import dataclasses

    import dramatiq

    from workers.broker import build_worker_broker

    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(Delivery).values(
                state="sending", lease_expires_at=utcnow() - timedelta(seconds=1)
            )
        )
    app.config["OUTREACH"] = dataclasses.replace(app.config["OUTREACH"], reconcile_interval=1)
    broker = build_worker_broker(app, set_global=False)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: _states(app, campaign_id) == Counter({"uncertain": 6}), timeout=30)
    finally:
        worker.stop(timeout=10_000)
        broker.close()
    assert len(_received(smtp_server)) == 0


def test_staff_resolve_uncertain_letters_from_the_console(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The campaign page offers "Mark all sent" for uncertain letters; it marks them sent with
    an event naming the staff member; a viewer cannot."""
    from tests.conftest import csrf_token_from

    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    with app.app_context(), get_db().transaction() as session:
        session.execute(update(Delivery).values(state="uncertain"))
    client = login("campaigner")
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "may or may not have gone out" in page
    resp = client.post(
        f"/campaigns/{campaign_id}/uncertain",
        data={"csrf_token": csrf_token_from(page), "all": "y", "action": "mark_sent"},
    )
    assert resp.status_code == 302
    assert _states(app, campaign_id) == Counter({"sent": 6})
    with app.app_context():
        actors = set(
            get_db().session.scalars(
                select(DeliveryEvent.actor).where(DeliveryEvent.detail == "marked sent by staff")
            )
        )
    assert actors == {next(iter(actors))}
    assert next(iter(actors)).endswith("campaigner@example.org")


def test_letters_waiting_behind_a_backlog_are_not_enqueued_twice(
    app: Flask, redis_url: str
) -> None:
    """Letters queued for 10 minutes while their jobs are still in Redis (a backlog, no worker
    free) are waiting, not lost: the reconciler's actor adds no job. Once Redis has lost the jobs
    (the queue is empty), the same actor enqueues them again (in one job: the tests' batch size is
    10)."""
    from workers.broker import build_worker_broker
    from workers.maintenance import sending_backlog

    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id, batch_size=2)
    with app.app_context(), get_db().transaction() as session:
        session.execute(update(Delivery).values(updated_at=utcnow() - timedelta(minutes=10)))
    broker = build_worker_broker(app, set_global=False)
    try:
        assert sending_backlog(broker) == 3  # 6 letters in jobs of 2, nobody consuming
        broker.get_actor("reconcile")()  # the actor's body, as the worker runs it
        assert sending_backlog(broker) == 3
        assert _states(app, campaign_id) == Counter({"queued": 6})
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()  # the jobs are lost
        assert sending_backlog(broker) == 0
        broker.get_actor("reconcile")()
        assert sending_backlog(broker) == 1
    finally:
        broker.close()
