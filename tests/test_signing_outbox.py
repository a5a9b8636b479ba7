"""The confirmation outbox (outreach.supporters.outbox): the signature row asks for its mail, a
worker's sweep claims it with a compare-and-set and queues one mail job. Nothing is lost when
Redis is down while signing, two sweeps at once never mail one signature twice, and signing
again asks for the mail again at most once an hour."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import timedelta

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.base import utcnow
from outreach import create_app
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.jobs import SIGNATURE_MAIL
from outreach.supporters.models import Signature
from outreach.supporters.outbox import OUTBOX, claim_confirmations
from outreach.supporters.signing import SignatureInput, sign
from outreach.supporters.sweep import sweep_signatures
from tests.conftest import running_worker, wait_for
from tests.supporters import configure, form_token, public_campaign, signing_data


def _jobs(app: Flask, actor: str) -> list[list[object]]:
    """The arguments of every message of `actor` waiting in Redis (its queue or delay queue)."""
    client = redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url)
    try:
        found = []
        for queue in (SIGNATURE_MAIL.queue_name, f"{SIGNATURE_MAIL.queue_name}.DQ"):
            for raw in client.hvals(f"dramatiq:{queue}.msgs"):
                message = json.loads(raw)
                if message["actor_name"] == actor:
                    found.append(message["args"])
        return found
    finally:
        client.close()


def _sign(client: FlaskClient, address: str) -> int:
    token = form_token(client.get("/c/free-them").get_data(as_text=True))
    return client.post("/c/free-them", data=signing_data(token, email_address=address)).status_code


def _signatures(app: Flask) -> list[Signature]:
    with app.app_context():
        return list(get_db().session.scalars(select(Signature).order_by(Signature.id)))


def test_a_signature_asks_for_its_mail_in_its_row_and_the_form_only_kicks_the_sweep(
    app: Flask, client: FlaskClient
) -> None:
    """Signing queues no mail job: the row waits unclaimed and the form enqueued a kick of the
    outbox; the sweep claims it once and queues exactly one mail job for it."""
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    assert _sign(client, "ana@example.org") == 200
    [sig] = _signatures(app)
    assert sig.confirmation_requested_at is not None
    assert sig.confirmation_claimed_at is None
    assert _jobs(app, SIGNATURE_MAIL.actor_name) == []
    assert _jobs(app, OUTBOX.actor_name)
    with app.app_context(), get_db().transaction() as session:
        assert claim_confirmations(session) == [sig.id]
    with app.app_context(), get_db().transaction() as session:
        assert claim_confirmations(session) == []
    assert _jobs(app, SIGNATURE_MAIL.actor_name) == [[sig.id, "confirm"]]


def test_with_redis_down_while_signing_the_confirmation_still_arrives(
    app: Flask, smtp_server: CaptureServer
) -> None:
    """A web app whose Redis does not answer still stores the signature (the rate limits and the
    kick fail open); the reconciler's pass finds the row and a real worker mails it to the SMTP
    server."""
    public_campaign(app)
    settings = dataclasses.replace(
        app.config["OUTREACH"], redis_url="redis://127.0.0.1:9/0", sign_min_seconds=0
    )
    down = create_app(settings)
    down.config["TESTING"] = True
    try:
        assert _sign(down.test_client(), "offline@example.org") == 200
    finally:
        with down.app_context():
            get_db().dispose()
        down.extensions["outreach.broker"].close()
    [sig] = _signatures(app)
    assert (sig.email, sig.confirmation_claimed_at) == ("offline@example.org", None)
    with app.app_context(), get_db().transaction() as session:
        assert sweep_signatures(session).mailed == 1
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 1, timeout=30)
    [mail] = read_mailbox(smtp_server.handler.maildir)
    assert mail.envelope_to == ["offline@example.org"]
    assert "confirm your signature" in mail.subject


def test_two_sweeps_at_once_claim_each_signature_once(app: Flask) -> None:
    """Two sessions claim the same 300 waiting confirmations at the same moment: together they
    claim every one, and no signature is claimed by both (so none is mailed twice)."""
    campaign_id = public_campaign(app)
    with app.app_context(), get_db().transaction() as session:
        for i in range(300):
            sign(
                session,
                _Ref(campaign_id),
                SignatureInput(name=f"S {i}", email=f"s{i}@example.org", country="BE",
                               privacy_notice="notice"),
                source="x",
                burst=None,
            )  # fmt: skip
    start = threading.Barrier(2)
    claimed: list[list[int]] = []

    def sweep() -> None:
        with app.app_context(), get_db().transaction() as session:
            start.wait()
            claimed.append(claim_confirmations(session, limit=300))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == 300
    assert sorted(args[0] for args in _jobs(app, SIGNATURE_MAIL.actor_name)) == sorted(
        first + second
    )


def test_two_workers_kicked_together_mail_each_supporter_exactly_once(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """Twenty supporters sign; two real workers then get ten kicks of the outbox each at once:
    the SMTP server receives one confirmation per supporter, no more."""
    public_campaign(app)
    # Twenty from one address: no burst rule, no per-IP limit.
    configure(app, sign_min_seconds=0, sign_burst="", sign_rate_per_ip="")
    addresses = [f"p{i}@example.org" for i in range(20)]
    for address in addresses:
        assert _sign(client, address) == 200
    with running_worker(app, threads=4) as one, running_worker(app, threads=4):
        for _ in range(20):
            one.broker.actors[OUTBOX.actor_name].send()
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) >= 20, timeout=60)
        one.broker.join(OUTBOX.queue_name, timeout=60_000)
        wait_for(lambda: all(s.confirmation_sent_at for s in _signatures(app)), timeout=30)
    received = sorted(
        address
        for mail in read_mailbox(smtp_server.handler.maildir)
        for address in mail.envelope_to
    )
    assert received == sorted(addresses)


def test_signing_again_asks_for_the_mail_again_at_most_once_an_hour(
    app: Flask, client: FlaskClient
) -> None:
    """Signed, swept (one job); signed twice more: nothing new to claim; an hour later a repeat
    puts the row back in the outbox and the sweep queues one more job."""
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    _sign(client, "ana@example.org")
    with app.app_context(), get_db().transaction() as session:
        assert len(claim_confirmations(session)) == 1
    _sign(client, "ana@example.org")
    _sign(client, "ANA@example.org")
    with app.app_context(), get_db().transaction() as session:
        assert claim_confirmations(session) == []
        signature = session.scalars(select(Signature)).one()
        signature.confirmation_requested_at = utcnow() - timedelta(hours=2)
    _sign(client, "ana@example.org")
    with app.app_context(), get_db().transaction() as session:
        assert claim_confirmations(session) == [signature.id]
    assert _jobs(app, SIGNATURE_MAIL.actor_name) == [[signature.id, "confirm"]] * 2


def test_a_campaign_closed_after_its_page_was_read_stores_nothing(
    app: Flask, client: FlaskClient
) -> None:
    """The form's process keeps the campaign it read for two seconds, but the insert checks that
    signing is still open: a post just after staff closed it is answered 409 and stores nothing."""
    campaign_id = public_campaign(app)
    configure(app, sign_min_seconds=0)
    assert _sign(client, "first@example.org") == 200  # the campaign is now kept by the process
    token = form_token(client.get("/c/free-them").get_data(as_text=True))
    with app.app_context(), get_db().transaction() as session:
        from outreach.campaigns.models import Campaign

        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.signing_open = False
    resp = client.post("/c/free-them", data=signing_data(token, email_address="late@example.org"))
    assert resp.status_code == 409
    assert [s.email for s in _signatures(app)] == ["first@example.org"]


@dataclasses.dataclass(frozen=True)
class _Ref:
    id: int
