"""Fault tests of the delivery engine (issue 5): what reaches the SMTP server when things break.

Real parts only: worker processes started as production starts them (`dramatiq workers:setup`,
configured by OUTREACH_* variables), a real Redis (a private redis-server where the test kills it),
the migrated database (SQLite or PostgreSQL) and the capture server (aiosmtpd) with its faults
switched on. Each test asserts on what the server received, per recipient address, and on the
rows in the database.

Where a test moves the reconciler's clock past the lease, no worker holds a lease at that moment
(the campaign has settled, or the last worker was stopped first): a clock past the lease would
otherwise flag letters that a live worker is sending.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select

from contacts.base import utcnow
from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery
from outreach.campaigns.sending import LEASE
from outreach.devmail import CaptureServer
from outreach.extensions import get_db
from outreach.jobs import SEND_BATCH
from tests.conftest import campaign_status, draft_campaign, free_port, launch_campaign
from tests.faults import (
    KillableRedis,
    Workers,
    add_officials,
    app_using,
    deliveries,
    events,
    queued_jobs,
    received,
    run_reconciler,
    states,
    unclaimed,
    wait_until,
)

BODY = "{{ salutation }}\n\nWe write to you, {{ recipient.formal_name }}, ahead of the vote.\n"
IN_FLIGHT = {"queued", "sending"}
# A reconciler clock past every lease and past the wait after which a queued delivery counts as lost.
PAST_LEASES = LEASE + timedelta(minutes=1)


@pytest.fixture
def workers(app: Flask, tmp_path: Path) -> Iterator[Workers]:
    """Worker processes for this test; every one still running is stopped at the end, and their
    logs are printed (pytest shows them when the test fails)."""
    started = Workers(app.config["OUTREACH"], tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
        print(started.logs())


def _campaign(app: Flask, recipients: int, domain: str = "parl.example") -> int:
    ids = add_officials(app, recipients, domain)
    return draft_campaign(app, {"contact_ids": ids}, body=BODY, load_directory=False)


def _settled(app: Flask, campaign_id: int) -> bool:
    """No delivery is waiting for a worker or in a worker's hands."""
    return not IN_FLIGHT & set(states(app, campaign_id))


def _sent(app: Flask, campaign_id: int) -> int:
    return states(app, campaign_id)["sent"]


def _mid_send(app: Flask, campaign_id: int, sent: int) -> Callable[[], bool]:
    """At least `sent` letters are sent and one is being sent (dispatched, not yet recorded)."""

    def check() -> bool:
        counts = states(app, campaign_id)
        return counts["sent"] >= sent and counts["sending"] > 0

    return check


def _settle_with_retries(app: Flask, campaign_id: int, rounds: int = 8) -> int:
    """Wait for the campaign to settle; while letters are deferred, run the reconciler with its
    clock at the latest next attempt (no lease is held while nothing is sending), and again.
    Returns how many rounds of retries it took."""
    for done in range(rounds + 1):
        wait_until(lambda: _settled(app, campaign_id), 30, "no delivery queued or sending")
        rows = deliveries(app, campaign_id)
        due = [d.next_attempt_at for d in rows if d.state == "deferred" and d.next_attempt_at]
        if not due:
            return done
        report = run_reconciler(app, now=max(due) + timedelta(seconds=1))
        assert report.retried == len(due), report
    raise AssertionError(f"still deferred after {rounds} rounds: {states(app, campaign_id)}")


def _wait_until_sent(app: Flask, campaign_id: int, count: int) -> None:
    wait_until(lambda: _sent(app, campaign_id) >= count, 40, f"{count} letters sent")


# --- 1 ---------------------------------------------------------------------------------------------
KILLS = 3


@pytest.mark.timeout(120)
def test_a_worker_killed_three_times_mid_campaign_sends_each_letter_once_or_flags_it(
    app: Flask, smtp_server: CaptureServer, workers: Workers
) -> None:
    """Three times during a 2,000-letter campaign the worker process is killed with SIGKILL
    while it sends a letter and holds the rest of its batch, and a new one is started. Then the
    reconciler (its clock past the lease) settles what the dead workers held: the letter on the
    wire becomes `uncertain`, the ones not begun are queued again; a last worker sends them.

    Proves: the SMTP server received every recipient exactly once, except deliveries flagged
    `uncertain` (at most one copy each); there are at most as many of those as kills (one thread
    per worker, so one letter in flight when it dies); nothing is left `queued` or `sending`."""
    campaign_id = _campaign(app, 2000)
    launch_campaign(app, campaign_id, batch_size=20)
    worker = workers.start(threads=1)
    sent_at_kill = []
    for kill in range(1, KILLS + 1):
        # Kill while a letter is on the wire and the rest of its batch is held: the moment a
        # crash costs the most.
        wait_until(
            _mid_send(app, campaign_id, 400 * kill), 40, f"{400 * kill} sent, one being sent", 0.02
        )
        worker.kill_worker()
        sent_at_kill.append(_sent(app, campaign_id))
        worker = workers.start(threads=1)
    wait_until(lambda: queued_jobs(app.config["OUTREACH"].redis_url) == 0, 40, "queue drained")
    # The last worker finishes the batch in hand and gives back what it holds; only the dead
    # workers' leases remain, and the clock can move past them.
    worker.stop()
    report = run_reconciler(app, now=utcnow() + PAST_LEASES)
    workers.start(threads=1)
    wait_until(lambda: _settled(app, campaign_id), 40, "no delivery queued or sending")

    rows = deliveries(app, campaign_id)
    got = received(smtp_server.handler.maildir)
    by_state = Counter(d.state for d in rows)
    uncertain = [d for d in rows if d.state == "uncertain"]
    assert all(n < 2000 for n in sent_at_kill), sent_at_kill  # each kill was mid-campaign
    assert set(by_state) <= {"sent", "uncertain"}, by_state
    assert len(rows) == 2000
    assert set(got) <= {d.email for d in rows}
    assert max(got.values()) == 1, [a for a, n in got.items() if n > 1]
    assert all(got[d.email] == 1 for d in rows if d.state == "sent")
    assert report.uncertain == len(uncertain)
    assert len(uncertain) <= KILLS, (
        f"{len(uncertain)} deliveries flagged uncertain after {KILLS} kills; of them "
        f"{sum(got[d.email] for d in uncertain)} reached the server: "
        f"(delivery id, copies) {[(d.id, got[d.email]) for d in uncertain]}"
    )


# --- 2 ---------------------------------------------------------------------------------------------
@pytest.mark.timeout(90)
def test_redis_restarted_mid_campaign_loses_jobs_and_the_reconciler_gets_each_letter_sent_once(
    app: Flask, smtp_server: CaptureServer, workers: Workers, tmp_path: Path
) -> None:
    """A private Redis (no persistence) is killed with SIGKILL in the middle of a 600-letter
    campaign, stays down for a second and is started again on the same port: every queued job
    is gone. The worker stays up and reconnects; the reconciler, run once Redis is back,
    enqueues the deliveries still `queued` in the database. When the worker has done what it
    can, it is stopped, the reconciler runs with its clock past the lease (what it does by
    itself ten minutes later) and a new worker sends whatever that gave back (a letter deferred
    meanwhile is retried when due).

    Proves: the jobs really were lost (Redis came back empty with deliveries still queued); the
    same worker process went on through the outage; in the end all 600 are `sent` and the SMTP
    server received each recipient exactly once."""
    broker = KillableRedis(tmp_path / "redis", free_port())
    broker.start()
    try:
        with app_using(app, redis_url=broker.url) as app2:
            campaign_id = _campaign(app2, 600)
            worker = workers.start(threads=2, redis_url=broker.url)
            worker_pids = worker.worker_pids()
            launch_campaign(app2, campaign_id, batch_size=20)
            _wait_until_sent(app2, campaign_id, 150)
            broker.kill()
            time.sleep(1)
            assert worker.alive()
            broker.start()
            assert queued_jobs(broker.url) == 0
            assert states(app2, campaign_id)["queued"] > 0
            report = run_reconciler(app2, stale_after=timedelta(0))
            wait_until(
                lambda: queued_jobs(broker.url) == 0 and not unclaimed(app2, campaign_id),
                40,
                "every queued delivery taken by the worker",
            )
            assert worker.alive()
            assert worker.worker_pids() == worker_pids
            worker.stop()
            late = run_reconciler(app2, now=utcnow() + PAST_LEASES)
            workers.start(threads=2, redis_url=broker.url)
            _settle_with_retries(app2, campaign_id)
    finally:
        workers.stop_all()
        broker.stop()

    got = received(smtp_server.handler.maildir)
    rows = deliveries(app, campaign_id)
    assert report.requeued > 0
    assert Counter(d.state for d in rows) == Counter({"sent": 600}), _story(
        app, campaign_id, smtp_server, [d for d in rows if d.state != "sent"], late
    )
    assert got == Counter({d.email: 1 for d in rows})


def _story(
    app: Flask,
    campaign_id: int,
    smtp_server: CaptureServer,
    odd: list[Delivery],
    report: object = None,
) -> str:
    """What happened to these deliveries: their events, and what the server answered them."""
    history = events(app, campaign_id)
    lines = [f"reconciler: {report}"] if report is not None else []
    for d in odd:
        steps = [
            f"{e.to_state} ({e.actor}: {e.detail or ''})" for e in history if e.delivery_id == d.id
        ]
        answers = [a.reply for a in smtp_server.handler.answers if d.email in a.recipients]
        lines.append(
            f"delivery {d.id} <{d.email}> {d.state}: {' -> '.join(steps)}; server: {answers}"
        )
    return "\n".join(lines)


# --- 3 ---------------------------------------------------------------------------------------------
@pytest.mark.timeout(90)
def test_421_and_451_to_30_percent_of_transactions_each_letter_arrives_once_later(
    app: Flask, smtp_server: CaptureServer, workers: Workers
) -> None:
    """The server answers 421 (and closes the connection) or 451, in turn, to 30% of the
    messages of a 200-letter campaign, spread evenly, retries included. Each time the campaign
    settles, the reconciler runs with its clock at the latest deferred letter's next attempt.

    Proves: all 200 end `sent`, each received exactly once, after its temporary failures (the
    server's answers to that address are 4xx ones, then one 250); every 4xx the server gave is
    one `deferred` event with that code, and each delivery's attempts are its deferrals plus one."""
    smtp_server.handler.set_fault(
        ("421 4.3.2 Service busy, closing channel", "451 4.3.0 Try again later"), share=0.3
    )
    campaign_id = _campaign(app, 200)
    workers.start(threads=2)
    launch_campaign(app, campaign_id, batch_size=20)
    assert _settle_with_retries(app, campaign_id) > 0

    rows = deliveries(app, campaign_id)
    got = received(smtp_server.handler.maildir)
    answers = list(smtp_server.handler.answers)
    temporary = [a for a in answers if a.code in (421, 451)]
    deferrals = [e for e in events(app, campaign_id) if e.to_state == "deferred"]
    assert Counter(d.state for d in rows) == Counter({"sent": 200})
    assert got == Counter({d.email: 1 for d in rows})
    assert len(temporary) >= 60  # 30% of at least 200 transactions
    assert {a.code for a in temporary} == {421, 451}
    assert Counter((e.smtp_code, e.delivery_id) for e in deferrals) == Counter(
        (a.code, d.id) for a in temporary for d in rows if a.recipients == (d.email,)
    )
    per_delivery = Counter(e.delivery_id for e in deferrals)
    assert all(d.attempts == per_delivery[d.id] + 1 for d in rows)
    for d in rows:
        codes = [a.code for a in answers if d.email in a.recipients]
        assert codes[-1] == 250, (d.email, codes)
        assert all(c in (421, 451) for c in codes[:-1]), (d.email, codes)


# --- 4 ---------------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_550_for_some_recipients_fails_them_once_with_the_reply_and_sends_the_others(
    app: Flask, smtp_server: CaptureServer, workers: Workers
) -> None:
    """The server refuses 10 of 60 recipients at RCPT TO with 550 5.1.1 (unknown user). After
    the campaign settles the reconciler runs with its clock a day ahead.

    Proves: those 10 are `failed` with code 550 and the server's text on the delivery and in
    its event, after exactly one attempt at the server, and are not retried; nothing was stored
    for them; the other 50 are `sent`, each received exactly once; the campaign is finished."""
    refusal = "550 5.1.1 Recipient address rejected: User unknown"
    smtp_server.handler.set_fault(refusal, recipients=r"@gone\.example$")
    gone = add_officials(app, 10, "gone.example")
    here = add_officials(app, 50, "parl.example", start=11)
    campaign_id = draft_campaign(app, {"contact_ids": gone + here}, body=BODY, load_directory=False)
    workers.start(threads=2)
    launch_campaign(app, campaign_id, batch_size=20)
    wait_until(lambda: _settled(app, campaign_id), 30, "no delivery queued or sending")
    report = run_reconciler(app, now=utcnow() + timedelta(days=1))

    rows = deliveries(app, campaign_id)
    failed = [d for d in rows if d.state == "failed"]
    got = received(smtp_server.handler.maildir)
    attempts = Counter(r for a in smtp_server.handler.answers for r in a.recipients)
    failures = {e.delivery_id: e for e in events(app, campaign_id) if e.to_state == "failed"}
    assert (report.retried, report.requeued) == (0, 0)
    assert Counter(d.state for d in rows) == Counter({"sent": 50, "failed": 10})
    assert {d.email for d in failed} == {f"m{n:04d}@gone.example" for n in range(1, 11)}
    for d in failed:
        assert (d.last_smtp_code, d.last_smtp_text) == (550, refusal[4:])
        assert (failures[d.id].smtp_code, failures[d.id].detail) == (550, refusal[4:])
        assert d.attempts == 1
        assert d.next_attempt_at is None
        assert d.sent_at is None
        assert attempts[d.email] == 1
    assert got == Counter({d.email: 1 for d in rows if d.state == "sent"})
    assert campaign_status(app, campaign_id) == "finished"


# --- 5 ---------------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("fault", "delay"), [("disconnect", 0.0), ("stall", 3.0)], ids=["disconnect", "stall"]
)
def test_an_answer_lost_after_the_final_dot_ends_uncertain_and_the_worker_goes_on(
    app: Flask, smtp_server: CaptureServer, workers: Workers, fault: str, delay: float
) -> None:
    """The server takes the first message of a 30-letter campaign whole, then drops the
    connection without answering, or stalls for 3 s while the workers' SMTP timeout is 1 s.
    After the campaign settles the reconciler runs with its clock a day ahead.

    Proves: that send times out or breaks and its delivery ends `uncertain`, with the reason in
    its event, and is not resent (the server holds exactly one copy of it); the same worker
    process stays alive and sends the other 29, each received exactly once."""
    smtp_server.handler.set_fault(fault, count=1, delay=delay)
    campaign_id = _campaign(app, 30)
    worker = workers.start(threads=1, smtp_timeout=1)
    (worker_pid,) = worker.worker_pids()
    launch_campaign(app, campaign_id, batch_size=10)
    wait_until(lambda: _settled(app, campaign_id), 30, "no delivery queued or sending")
    # The server notes a stalled transaction when the sender hangs up on it.
    wait_until(lambda: len(smtp_server.handler.answers) == 30, delay + 5, "every answer given")
    report = run_reconciler(app, now=utcnow() + timedelta(days=1))
    assert worker.alive()
    assert worker.worker_pids() == [worker_pid]

    rows = deliveries(app, campaign_id)
    history = events(app, campaign_id)
    (lost,) = [d for d in rows if d.state == "uncertain"]
    got = received(smtp_server.handler.maildir)
    assert (report.retried, report.requeued) == (0, 0)
    assert Counter(d.state for d in rows) == Counter({"sent": 29, "uncertain": 1})
    assert [e.to_state for e in history if e.delivery_id == lost.id] == [
        "queued",
        "sending",
        "uncertain",
    ]
    reason = [e.detail or "" for e in history if e.delivery_id == lost.id][-1]
    assert reason.startswith("no answer after DATA")
    assert got == Counter({d.email: 1 for d in rows})
    assert {e.actor.split(":")[1] for e in history if e.to_state == "sending"} == {str(worker_pid)}


# --- 8 ---------------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_a_launch_rolled_back_enqueues_nothing_and_sends_nothing(
    app: Flask, smtp_server: CaptureServer, workers: Workers, redis_url: str
) -> None:
    """A 20-letter campaign is launched inside a transaction that then rolls back, while a
    worker runs (with its reconciler timer every second) for 3 seconds.

    Proves: no Delivery row exists, the campaign is still a draft, Redis holds no sending job,
    and the SMTP server saw no transaction. Then the same campaign is launched and committed:
    its 20 letters arrive once each, so the worker was consuming all along."""
    campaign_id = _campaign(app, 20)
    worker = workers.start(threads=1, reconcile_interval=1)
    with app.app_context():
        session = get_db().factory()
        try:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            digest = services.lint(session, campaign).digest
            result = services.launch(
                session, campaign_id, actor="test", batch_size=10, confirm_warnings=digest
            )
            session.flush()
            inside = session.scalar(select(func.count()).select_from(Delivery))
            session.rollback()
        finally:
            session.close()
    assert (result.deliveries, inside) == (20, 20)  # the launch did its work, then it was undone
    client = redis.Redis.from_url(redis_url)
    try:
        assert queued_jobs(redis_url) == 0
        assert not client.exists(f"dramatiq:{SEND_BATCH.queue_name}.msgs")
    finally:
        client.close()
    time.sleep(3)  # the worker, and its reconciler every second, run with nothing to find
    assert worker.alive()
    assert states(app, campaign_id) == Counter()
    assert campaign_status(app, campaign_id) == "draft"
    assert list(smtp_server.handler.answers) == []
    assert received(smtp_server.handler.maildir) == Counter()

    launch_campaign(app, campaign_id, batch_size=10)
    wait_until(lambda: _settled(app, campaign_id), 30, "the committed launch sent")
    rows = deliveries(app, campaign_id)
    assert received(smtp_server.handler.maildir) == Counter({d.email: 1 for d in rows})
