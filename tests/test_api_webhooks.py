"""Outgoing webhooks, verified by a real local HTTP receiver: the events of a real drive and of a
confirmed signature arrive signed (HMAC-SHA256 over timestamp and body), a subscriber that fails
is retried with a growing delay by the worker until it answers or the attempts run out, and the
console shows every delivery with its status."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from outreach.api.models import WebhookDelivery, WebhookSubscription
from outreach.api.webhooks import emit, subscribe, sweep, verify
from outreach.campaigns.models import Campaign
from outreach.devmail import CaptureServer
from outreach.extensions import get_db
from tests.conftest import (
    csrf_token_from,
    draft_campaign,
    launch_campaign,
    running_worker,
    wait_for,
)


@dataclass
class Receiver:
    """A real HTTP server that records each POST and answers `fail_first` of them with 500."""

    url: str = ""
    fail_first: int = 0
    always_fail: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name for it
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.received.append(
                    {"at": time.monotonic(), "headers": dict(self.headers), "body": body}
                )
                failing = state.always_fail or len(state.received) <= state.fail_first
            self.send_response(500 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _subscribe(app: Flask, url: str, events: list[str]) -> str:
    with app.app_context(), get_db().transaction() as session:
        return subscribe(session, url=url, events=events, created_by="test").secret


def _fast_retries(app: Flask, attempts: int = 5) -> None:
    app.config["OUTREACH"] = replace(
        app.config["OUTREACH"], hook_backoff=0.3, hook_attempts=attempts
    )


def _states(app: Flask) -> list[tuple[str, str, int]]:
    with app.app_context():
        rows = get_db().session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        return [(r.event, r.state, r.attempts) for r in rows]


def test_a_drives_events_reach_the_subscriber_signed(
    app: Flask, smtp_server: CaptureServer, receiver: Receiver
) -> None:
    """A drive to three officials, sent by a real worker: the receiver gets delivery.sent for each
    letter and campaign.finished once, each body signed with the subscription's secret (a body
    changed by one byte, or another secret, does not verify)."""
    secret = _subscribe(app, receiver.url, ["delivery.sent", "campaign.finished"])
    _subscribe(app, receiver.url + "/bounces-only", ["delivery.bounced"])
    with app.app_context(), get_db().transaction() as session:
        from contacts.bundled import load_bundled
        from contacts.models import Contact

        load_bundled(session)
        ids = list(session.scalars(select(Contact.id).where(Contact.kind == "mep").limit(3)))
    campaign_id = draft_campaign(app, {"contact_ids": ids}, load_directory=False)
    launch_campaign(app, campaign_id)
    with running_worker(app):
        wait_for(lambda: _campaign_finished(app, campaign_id))
        # The sending engine records outcomes on a Core connection: its events wait for the
        # reconciler's pass (the tests run it themselves).
        with app.app_context(), get_db().transaction() as session:
            sweep(session)
        wait_for(lambda: len(receiver.received) == 4, timeout=30)
    events = sorted(json.loads(r["body"])["event"] for r in receiver.received)
    assert events == ["campaign.finished"] + ["delivery.sent"] * 3
    for request in receiver.received:
        header = request["headers"]["Outreach-Signature"]
        assert verify(secret, request["body"], header)
        assert not verify(secret, request["body"] + b" ", header)
        assert not verify("whsec_other", request["body"], header)
        body = json.loads(request["body"])
        assert request["headers"]["Outreach-Event"] == body["event"]
        assert request["headers"]["Outreach-Webhook-Id"] == body["id"]
    sent = [json.loads(r["body"])["data"]["delivery_id"] for r in receiver.received
            if json.loads(r["body"])["event"] == "delivery.sent"]  # fmt: skip
    assert len(set(sent)) == 3
    assert all(state == "delivered" for _e, state, _n in _states(app))


def _campaign_finished(app: Flask, campaign_id: int) -> bool:
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        return campaign is not None and campaign.status == "finished"


def test_a_failing_subscriber_is_retried_with_growing_delays(
    app: Flask, receiver: Receiver
) -> None:
    """The receiver answers 500 twice, then 204: three attempts, the second gap about twice the
    first, and the delivery ends delivered after 3 attempts; the same event id every time."""
    _fast_retries(app)
    receiver.fail_first = 2
    _subscribe(app, receiver.url, ["campaign.finished"])
    with app.app_context(), get_db().transaction() as session:
        emit(session, "campaign.finished", {"campaign_id": 7})
    with running_worker(app):
        wait_for(lambda: _states(app) == [("campaign.finished", "delivered", 3)], timeout=30)
    at = [r["at"] for r in receiver.received]
    assert len(at) == 3
    assert at[1] - at[0] >= 0.25
    assert at[2] - at[1] >= 0.55  # doubled
    assert len({r["headers"]["Outreach-Webhook-Id"] for r in receiver.received}) == 1


def test_a_subscriber_that_never_answers_is_given_up_and_shown_failed(
    app: Flask, receiver: Receiver, login: Callable[..., FlaskClient]
) -> None:
    """After OUTREACH_HOOK_ATTEMPTS failures the delivery is failed, with the last status, and
    the admins' webhooks page shows it so."""
    _fast_retries(app, attempts=2)
    receiver.always_fail = True
    _subscribe(app, receiver.url, ["campaign.finished"])
    with app.app_context(), get_db().transaction() as session:
        emit(session, "campaign.finished", {"campaign_id": 8})
    with running_worker(app):
        wait_for(lambda: _states(app) == [("campaign.finished", "failed", 2)], timeout=30)
    client = login("admin")
    page = client.get("/webhooks").get_data(as_text=True)
    assert receiver.url in page
    assert "failed" in page
    assert "500" in page


def test_a_signature_confirmed_twice_is_one_event(app: Flask, receiver: Receiver) -> None:
    """signature.confirmed is emitted when a pending signature is confirmed, once per signature
    however often confirm runs; events nobody subscribed to make no row."""
    from outreach.supporters.signing import SignatureInput, confirm, sign

    _subscribe(app, receiver.url, ["signature.confirmed"])
    campaign_id = draft_campaign(app, {"filter": "country:MT"})
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        result = sign(session, campaign, SignatureInput(name="Sam", email="sam@example.org",
                      country="FR", privacy_notice="n"), source="x", burst=None)  # fmt: skip
        emit(session, "campaign.finished", {"campaign_id": campaign_id})
    for _ in range(2):
        with app.app_context(), get_db().transaction() as session:
            confirm(session, result.signature_id)
    assert [(e, s) for e, s, _n in _states(app)] == [("signature.confirmed", "pending")]
    with running_worker(app):
        wait_for(lambda: len(receiver.received) == 1, timeout=30)
    body = json.loads(receiver.received[0]["body"])
    assert body["data"] == {"signature_id": result.signature_id, "campaign_id": campaign_id}


def test_only_admins_manage_subscriptions(
    app: Flask, login: Callable[..., FlaskClient], receiver: Receiver
) -> None:
    """An admin subscribes a URL in the console (refused: another scheme, no event); a
    campaigner gets 403."""
    client = login("admin")
    page = client.get("/webhooks").get_data(as_text=True)
    token = csrf_token_from(page)
    bad = client.post(
        "/webhooks", data={"url": "ftp://x", "events": ["delivery.sent"], "csrf_token": token}
    )
    assert bad.status_code == 400
    ok = client.post("/webhooks", data={"url": receiver.url, "events": ["delivery.sent", "delivery.replied"],
                                        "csrf_token": token})  # fmt: skip
    assert ok.status_code == 302
    with app.app_context():
        row = get_db().session.scalars(select(WebhookSubscription)).one()
        assert row.events == ["delivery.sent", "delivery.replied"]
        assert row.secret.startswith("whsec_")
    client.post("/logout", data={"csrf_token": token})
    assert login("campaigner").get("/webhooks").status_code == 403
