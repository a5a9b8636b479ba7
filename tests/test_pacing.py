"""Pacing: per-domain limits shared through Redis, the relay's concurrency, office hours.

The unit tests run the Lua scripts in a real Redis; the end-to-end test sends through the real
worker to the real SMTP server and judges the limit by the server's own receive timestamps.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import select

from outreach.campaigns.models import Delivery
from outreach.campaigns.pacing import (
    MARGIN,
    DomainRates,
    Pacer,
    RateError,
    estimated_seconds,
    office_hours_wait,
)
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.conftest import campaign_status, draft_campaign, launch_campaign, wait_for
from tests.faults import Workers, add_officials


# --- reading the limits ---------------------------------------------------------------------------
def test_rates_are_read_per_domain_with_a_default_and_subdomains_share_their_parent() -> None:
    rates = DomainRates.parse("europarl.europa.eu=60/min, *=600/min,fast.example=5/s,x.org=90/h")
    assert rates.interval("europarl.europa.eu") == 1.0
    assert rates.interval("EP.Europarl.Europa.EU") == 1.0
    assert rates.interval("fast.example") == 0.2
    assert rates.interval("x.org") == 40.0
    assert rates.interval("anything.else") == 0.1
    assert DomainRates.parse("").interval("europarl.europa.eu") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("europarl.europa.eu=60", "is not a rate"),
        ("europarl.europa.eu=60/day", "is not a rate"),
        ("x.org=0/min", "at least 1"),
        ("x.org 60/min", "is not a rate"),
    ],
)
def test_unreadable_rates_are_refused_saying_how_to_write_them(text: str, message: str) -> None:
    with pytest.raises(RateError, match=message):
        DomainRates.parse(text)


def test_the_estimate_names_the_slowest_domain_or_the_campaign_window() -> None:
    rates = DomainRates.parse("europarl.europa.eu=60/min")
    seconds, why = estimated_seconds({"europarl.europa.eu": 720, "gov.example": 27}, rates, None)
    assert seconds == pytest.approx(720 * MARGIN)
    assert why == "720 letters to europarl.europa.eu at 60 a minute"
    assert estimated_seconds({"europarl.europa.eu": 720}, rates, 2) == (7200.0, "spread over 2 h")


@pytest.fixture
def connect(redis_url: str) -> Iterator[Callable[[], Redis]]:
    """Redis clients for a test, closed after it (no socket left to the garbage collector)."""
    made: list[Redis] = []

    def make() -> Redis:
        made.append(Redis.from_url(redis_url))
        return made[-1]

    yield make
    for client in made:
        client.close()


# --- the shared bucket and semaphore, in Redis -----------------------------------------------------
def test_slots_of_a_domain_are_spaced_by_its_interval_and_a_far_slot_is_not_taken(
    redis_url: str,
    connect: Callable[[], Redis],
) -> None:
    pacer = Pacer(connect(), DomainRates.parse("a.example=300/min"), 4)
    waits = [pacer.reserve("domain:a.example", 0.2, max_wait=5).wait for _ in range(5)]
    spacing = 0.2 * MARGIN
    assert waits[0] == pytest.approx(0, abs=0.02)
    for before, after in itertools.pairwise(waits):
        assert after - before == pytest.approx(spacing, abs=0.02)
    # The next slot is about a second away: with max_wait 0.5 it is not taken, and asking again
    # finds it just as far (nothing was reserved).
    far = pacer.reserve("domain:a.example", 0.2, max_wait=0.5)
    again = pacer.reserve("domain:a.example", 0.2, max_wait=0.5)
    assert not far.reserved
    assert not again.reserved
    assert again.wait == pytest.approx(far.wait, abs=0.05)


def test_two_pacers_on_one_redis_share_the_limit(
    redis_url: str, connect: Callable[[], Redis]
) -> None:
    """Two workers (two Pacer objects, two connections) draw from one bucket per domain."""
    rates = DomainRates.parse("shared.example=600/min")
    first = Pacer(connect(), rates, 4)
    second = Pacer(connect(), rates, 4)
    waits = [p.reserve_domains({"shared.example"}).wait for p in (first, second, first, second)]
    assert waits == sorted(waits)
    assert waits[-1] == pytest.approx(3 * 0.1 * MARGIN, abs=0.03)


def test_the_relay_is_never_given_more_places_than_its_limit(
    redis_url: str, connect: Callable[[], Redis]
) -> None:
    pacer = Pacer(connect(), DomainRates(), relay_concurrency=2)
    inside = 0
    most = 0
    lock = threading.Lock()

    def transaction() -> None:
        nonlocal inside, most
        with pacer.relay(hold_seconds=30):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.15)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=transaction) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert most == 2


def test_a_place_held_by_a_dead_worker_frees_itself_when_it_expires(
    redis_url: str, connect: Callable[[], Redis]
) -> None:
    redis = connect()
    pacer = Pacer(redis, DomainRates(), relay_concurrency=1)
    # A worker took the only place for 0.3 s and died without giving it back.
    assert pacer._acquire(keys=["outreach:pace:relay"], args=[1, 300, "dead-worker"])
    start = time.monotonic()
    with pacer.relay(hold_seconds=5):
        waited = time.monotonic() - start
    assert 0.2 < waited < 2


# --- office hours ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("country", "utc", "hours"),
    [
        ("BE", datetime(2026, 11, 28, 10, 0, tzinfo=UTC), 46.0),  # Saturday 11:00 → Monday 09:00
        ("BE", datetime(2026, 12, 1, 7, 30, tzinfo=UTC), 0.5),  # Tuesday 08:30 in Brussels
        ("PT", datetime(2026, 12, 1, 8, 30, tzinfo=UTC), 0.5),  # 08:30 in Lisbon (UTC+0)
        ("CY", datetime(2026, 12, 1, 14, 59, tzinfo=UTC), 0.0),  # 16:59 in Nicosia
        ("CY", datetime(2026, 12, 4, 15, 0, tzinfo=UTC), 64.0),  # Friday 17:00 → Monday 09:00
        (None, datetime(2026, 12, 1, 12, 0, tzinfo=UTC), 0.0),  # unknown: Brussels, 13:00
    ],
)
def test_office_hours_wait_until_the_next_working_morning_in_the_country(
    country: str | None, utc: datetime, hours: float
) -> None:
    assert office_hours_wait(country, utc) == pytest.approx(hours * 3600)


# --- end to end: the limit at the receiving server ------------------------------------------------
LIMITED = 66
FREE = 12


@pytest.fixture
def workers(app: Flask, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(app.config["OUTREACH"], tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
        print(started.logs())


def test_a_domain_limit_of_60_a_minute_is_never_exceeded_at_the_receiving_server(
    app: Flask, smtp_server: CaptureServer, workers: Workers
) -> None:
    """Fault test 6. 66 letters to limited.example (limit 60 a minute) and 12 to another domain,
    sent by two worker processes of two threads each, which share the limit through Redis: in no
    60-second window does the server receive more than 60 for limited.example (judged by its own
    receive times), every letter arrives exactly once, and the other domain is not held back."""
    free = add_officials(app, FREE, "free.example")
    limited = add_officials(app, LIMITED, "limited.example", start=FREE + 1)
    campaign_id = draft_campaign(app, {"contact_ids": free + limited}, load_directory=False)
    launch_campaign(app, campaign_id, batch_size=10)
    for _ in range(2):
        workers.start(threads=2, domain_rates="limited.example=60/min", send_batch_size=10)
    wait_for(lambda: campaign_status(app, campaign_id) == "finished", timeout=150, interval=0.5)

    messages = read_mailbox(smtp_server.handler.maildir)
    per_address = Counter(a for m in messages for a in m.envelope_to)
    assert len(per_address) == LIMITED + FREE
    assert set(per_address.values()) == {1}
    times = sorted(m.received_at for m in messages if m.envelope_to[0].endswith("@limited.example"))
    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= 60
    # Paced, not slowed down more than needed: 66 letters take about 66 s, not much more.
    assert times[-1] - times[0] < 90
    # The other domain's letters (in the first batches) are not held back by the limited one.
    others = sorted(m.received_at for m in messages if m.envelope_to[0].endswith("@free.example"))
    assert others[-1] - min(others[0], times[0]) < 15
    with app.app_context():
        assert Counter(get_db().session.scalars(select(Delivery.state))) == Counter(
            {"sent": LIMITED + FREE}
        )
