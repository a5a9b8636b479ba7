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
from datetime import timedelta
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


# --- management over the API, resend, rotation ---------------------------------------------------
def test_subscriptions_are_managed_over_the_api_by_admins_only(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    """An admin's token creates a subscription (201, with its secret), lists and reads it,
    changes its events and URL (an ftp URL or an unknown event is 422, nothing changed), turns it
    off, and deletes it with its deliveries; a campaigner's write token gets 403 everywhere."""
    from tests.api_support import bearer, token_for

    headers = bearer(token_for(app))
    made = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["delivery.sent"],
                       "description": "CRM"}, headers=headers)  # fmt: skip
    assert made.status_code == 201, made.get_json()
    row = made.get_json()
    assert row["secret"].startswith("whsec_")
    assert row["events"] == ["delivery.sent"]
    url = f"/api/v1/webhooks/{row['id']}"
    assert [
        s["id"] for s in client.get("/api/v1/webhooks", headers=headers).get_json()["items"]
    ] == [row["id"]]
    changed = client.patch(url, json={"events": ["campaign.finished", "delivery.bounced"],
                           "url": receiver.url + "/v2"}, headers=headers)  # fmt: skip
    assert changed.status_code == 200
    assert changed.get_json()["events"] == ["delivery.bounced", "campaign.finished"]
    bad = client.patch(url, json={"url": "ftp://example.org/x"}, headers=headers)
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "url"
    assert client.patch(url, json={"events": ["nope"]}, headers=headers).status_code == 422
    off = client.patch(url, json={"active": False}, headers=headers).get_json()
    assert off["active"] is False
    assert off["url"] == receiver.url + "/v2"
    with app.app_context(), get_db().transaction() as session:
        session.get(WebhookSubscription, row["id"]).active = True  # type: ignore[union-attr]
        emit(session, "campaign.finished", {"campaign_id": 1})
    campaigner = bearer(token_for(app, "campaigner", "write"))
    assert client.get("/api/v1/webhooks", headers=campaigner).status_code == 403
    assert client.delete(url, headers=campaigner).status_code == 403
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    with app.app_context():
        assert get_db().session.scalars(select(WebhookDelivery)).all() == []


def _deliveries(client: FlaskClient, headers: dict[str, str], sub_id: int) -> list[dict[str, Any]]:
    resp = client.get(f"/api/v1/webhooks/{sub_id}/deliveries", headers=headers)
    assert resp.status_code == 200
    return list(resp.get_json()["items"])


def test_a_failed_delivery_is_sent_again_by_hand(
    app: Flask,
    client: FlaskClient,
    receiver: Receiver,
    login: Callable[..., FlaskClient],
) -> None:
    """A subscriber that fails twice (one attempt allowed) leaves two failed deliveries, listed
    with their status over the API; resending a pending or delivered one is 409; once the
    receiver answers again, one is resent over the API and the other from the console's button,
    and the worker delivers both, each with the event id it had."""
    from tests.api_support import bearer, token_for

    _fast_retries(app, attempts=1)
    headers = bearer(token_for(app, email="hooks-admin@example.org"))
    receiver.always_fail = True
    _subscribe(app, receiver.url, ["campaign.finished"])
    with app.app_context(), get_db().transaction() as session:
        sub_id = session.scalars(select(WebhookSubscription.id)).one()
        emit(session, "campaign.finished", {"campaign_id": 1})
        emit(session, "campaign.finished", {"campaign_id": 2})
    with running_worker(app):
        wait_for(lambda: [s for _e, s, _n in _states(app)] == ["failed", "failed"], timeout=30)
        listed = _deliveries(client, headers, sub_id)
        assert [(d["state"], d["attempts"], d["last_status"]) for d in listed] == [
            ("failed", 1, 500), ("failed", 1, 500)
        ]  # fmt: skip
        failed = client.get(f"/api/v1/webhooks/{sub_id}/deliveries?state=failed", headers=headers)
        assert len(failed.get_json()["items"]) == 2
        event_ids = {d["id"]: d["event_id"] for d in listed}
        receiver.always_fail = False
        first, second = sorted(event_ids)
        resp = client.post(f"/api/v1/webhooks/{sub_id}/deliveries/{first}/resend", headers=headers)
        assert resp.status_code == 202, resp.get_json()
        wait_for(lambda: _states(app)[0][1] == "delivered", timeout=30)
        again = client.post(f"/api/v1/webhooks/{sub_id}/deliveries/{first}/resend", headers=headers)
        assert again.status_code == 409
        wrong = client.post(f"/api/v1/webhooks/{sub_id + 1}/deliveries/{second}/resend",
                            headers=headers)  # fmt: skip
        assert wrong.status_code == 404

        console = login("admin")
        page = console.get("/webhooks").get_data(as_text=True)
        assert page.count("Send again") == 1
        sent = console.post(f"/webhooks/deliveries/{second}/resend",
                            data={"csrf_token": csrf_token_from(page)}, follow_redirects=True)  # fmt: skip
        assert "is being sent again" in sent.get_data(as_text=True)
        wait_for(
            lambda: [s for _e, s, _n in _states(app)] == ["delivered", "delivered"], timeout=30
        )
    ids = [r["headers"]["Outreach-Webhook-Id"] for r in receiver.received]
    # 2 failed attempts, then one successful POST of each, with the event id each had.
    assert len(ids) == 4
    assert ids[2:] == [event_ids[first], event_ids[second]]


def test_a_rotated_secret_signs_beside_the_old_one_during_the_grace_period(
    app: Flask, client: FlaskClient, receiver: Receiver, login: Callable[..., FlaskClient]
) -> None:
    """Rotated over the API with a one-hour grace: the next POST's header has two v1 values and
    the real receiver verifies it with the old secret and with the new one; once the grace
    period is over (its end moved into the past), only the new secret verifies. Rotated again
    in the console with no grace: the previous secret stops at once."""
    from tests.api_support import bearer, token_for

    headers = bearer(token_for(app))
    old = _subscribe(app, receiver.url, ["campaign.finished"])
    with app.app_context():
        sub_id = get_db().session.scalars(select(WebhookSubscription.id)).one()
    rotated = client.post(f"/api/v1/webhooks/{sub_id}/rotate-secret", json={"grace_hours": 1},
                          headers=headers).get_json()  # fmt: skip
    new = rotated["secret"]
    assert new != old
    assert rotated["previous_secret_until"]
    assert client.post(f"/api/v1/webhooks/{sub_id}/rotate-secret", json={"grace_hours": 1000},
                       headers=headers).status_code == 422  # fmt: skip

    def deliver(campaign_id: int) -> tuple[bytes, str]:
        count = len(receiver.received)
        with app.app_context(), get_db().transaction() as session:
            emit(session, "campaign.finished", {"campaign_id": campaign_id})
        with running_worker(app):
            wait_for(lambda: len(receiver.received) == count + 1, timeout=30)
        request = receiver.received[-1]
        return request["body"], request["headers"]["Outreach-Signature"]

    body, header = deliver(1)
    assert header.count("v1=") == 2
    assert verify(old, body, header)
    assert verify(new, body, header)
    assert not verify("whsec_other", body, header)

    with app.app_context(), get_db().transaction() as session:
        row = session.get(WebhookSubscription, sub_id)
        assert row is not None
        assert row.previous_secret_until is not None
        row.previous_secret_until = row.previous_secret_until - timedelta(hours=2)
    body, header = deliver(2)
    assert header.count("v1=") == 1
    assert verify(new, body, header)
    assert not verify(old, body, header)

    console = login("admin")
    page = console.get("/webhooks").get_data(as_text=True)
    assert new in page
    done = console.post(f"/webhooks/{sub_id}/rotate", data={"grace_hours": "0",
                        "csrf_token": csrf_token_from(page)}, follow_redirects=True)  # fmt: skip
    assert "the old one no longer signs" in done.get_data(as_text=True)
    with app.app_context():
        newest = get_db().session.get(WebhookSubscription, sub_id).secret  # type: ignore[union-attr]
    body, header = deliver(3)
    assert verify(newest, body, header)
    assert not verify(new, body, header)
