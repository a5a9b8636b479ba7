"""Signing under concurrency, over real HTTP (the app on a threaded WSGI server), on the backend
under test: simultaneous submissions of one address leave one signature whose confirmation the
outbox's sweep mails once; two thousand different submissions are all stored, each asking for
its confirmation."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask

from outreach.extensions import get_db
from outreach.jobs import SIGNATURE_MAIL
from outreach.supporters.models import Signature
from outreach.supporters.outbox import claim_confirmations
from tests.browser import LiveServer
from tests.conftest import count_rows
from tests.supporters import configure, form_token, public_campaign, signing_data


def _open_form(app: Flask) -> None:
    # No fill time, rate limit or burst rule: this is about what the database keeps.
    configure(app, sign_min_seconds=0, sign_rate_per_ip="", sign_rate_per_address="", sign_burst="")


def _post(url: str, data: dict[str, str]) -> int:
    body = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - our test server
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return int(response.status)


def _queued_mail_jobs(app: Flask) -> int:
    """Sweep the outbox (as a worker does), then count the mail jobs waiting in Redis."""
    with app.app_context(), get_db().transaction() as session:
        claim_confirmations(session, limit=10_000)
    client = redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url)
    try:
        messages = client.hvals(f"dramatiq:{SIGNATURE_MAIL.queue_name}.msgs")
        return sum(json.loads(m)["actor_name"] == SIGNATURE_MAIL.actor_name for m in messages)
    finally:
        client.close()


def test_200_simultaneous_submissions_of_one_address_make_one_signature(
    app: Flask, live_server: LiveServer
) -> None:
    """200 threads released together post the same address: every one gets a page (none fails),
    and the database holds one signature; the outbox's sweep queues one confirmation job."""
    public_campaign(app)
    _open_form(app)
    url = f"{live_server.url}/c/free-them"
    with urllib.request.urlopen(url, timeout=30) as page:  # noqa: S310
        token = form_token(page.read().decode())
    data = signing_data(token, email_address="same@example.org")
    start = threading.Barrier(200)

    def submit(_: int) -> int:
        start.wait()
        return _post(url, data)

    with ThreadPoolExecutor(max_workers=200) as pool:
        codes = list(pool.map(submit, range(200)))
    assert codes == [200] * 200
    assert count_rows(app, Signature) == 1
    assert _queued_mail_jobs(app) == 1


# Bounded in time (about 25 s on 2 cores with SQLite): timings are measured by benchmarks, not
# asserted, but a run that hangs fails.
@pytest.mark.timeout(120)
def test_2000_different_submissions_are_all_stored(app: Flask, live_server: LiveServer) -> None:
    """2,000 supporters sign through 16 concurrent connections: 2,000 rows, each asking for its
    confirmation (the outbox's sweep queues 2,000 mail jobs)."""
    public_campaign(app)
    _open_form(app)
    url = f"{live_server.url}/c/free-them"
    with urllib.request.urlopen(url, timeout=30) as page:  # noqa: S310
        token = form_token(page.read().decode())
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(
            pool.map(
                lambda i: _post(url, signing_data(token, email_address=f"s{i}@example.org")),
                range(2000),
            )
        )
    assert codes == [200] * 2000
    assert count_rows(app, Signature) == 2000
    assert _queued_mail_jobs(app) == 2000
