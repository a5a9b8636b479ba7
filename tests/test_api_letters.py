"""A campaign's language versions and test sends over the API, with a real token: versions are
listed, added, changed and removed through the console's service (checked before saving, a
draft's only), and a test send puts the chosen recipient's copy in that language into the real
SMTP capture server, addressed to the given address and never to the official, until the
per-user limit answers 429."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.models import Contact
from outreach.campaigns.models import Delivery, LetterVariant
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.api_support import bearer, token_for
from tests.conftest import count_rows, draft_campaign, launch_campaign

GERMAN = ("Ein Brief an {{ recipient.display_name }}", "{{ salutation }}\n\nWir schreiben Ihnen.")


def _maltese(app: Flask) -> tuple[int, Contact]:
    campaign_id = draft_campaign(app, {"filter": "country:MT"}, subject="A letter",
                                 body="{{ salutation }}\n\nWe write to you.")  # fmt: skip
    with app.app_context():
        contact = (
            get_db()
            .session.scalars(
                select(Contact).where(Contact.country_code == "MT").order_by(Contact.id)
            )
            .first()
        )
        assert contact is not None
        get_db().session.expunge(contact)
    return campaign_id, contact


def _variants(app: Flask, campaign_id: int) -> dict[str, str]:
    with app.app_context():
        rows = get_db().session.scalars(
            select(LetterVariant).where(LetterVariant.campaign_id == campaign_id)
        )
        return {v.language: v.subject_template for v in rows}


def test_language_versions_are_listed_added_changed_and_removed(
    app: Flask, client: FlaskClient
) -> None:
    """POST adds German (201, stored), a second POST of it is 409, PUT changes it, a template that
    does not compile is 422 on `body` with nothing changed, DELETE removes it (204); the default
    language is listed first and cannot be added or deleted as a version; a launched campaign's
    versions are refused with 409."""
    headers = bearer(token_for(app))
    campaign_id, _contact = _maltese(app)
    url = f"/api/v1/campaigns/{campaign_id}/languages"
    resp = client.post(url, json={"language": "de", "subject": GERMAN[0], "body": GERMAN[1]},
                       headers=headers)  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    assert _variants(app, campaign_id) == {"de": GERMAN[0]}
    listed = client.get(url, headers=headers).get_json()["items"]
    assert [(v["language"], v["default"]) for v in listed] == [("en", True), ("de", False)]
    again = client.post(url, json={"language": "de", "subject": "x", "body": "y"},
                        headers=headers)  # fmt: skip
    assert again.status_code == 409
    assert client.post(url, json={"language": "en", "subject": "x", "body": "y"},
                       headers=headers).status_code == 409  # fmt: skip
    changed = client.put(f"{url}/de", json={"subject": "Neu", "body": GERMAN[1]}, headers=headers)
    assert changed.status_code == 200
    assert changed.get_json()["subject"] == "Neu"
    broken = client.put(f"{url}/de", json={"subject": "Neu", "body": "{{ salutation "},
                        headers=headers)  # fmt: skip
    assert broken.status_code == 422
    assert broken.get_json()["errors"][0]["field"] == "body"
    assert _variants(app, campaign_id) == {"de": "Neu"}
    assert client.get(f"{url}/de", headers=headers).get_json()["subject"] == "Neu"
    assert client.get(f"{url}/fr", headers=headers).status_code == 404
    assert client.delete(f"{url}/en", headers=headers).status_code == 404
    assert client.delete(f"{url}/de", headers=headers).status_code == 204
    assert _variants(app, campaign_id) == {}

    client.post(url, json={"language": "de", "subject": GERMAN[0], "body": GERMAN[1]},
                headers=headers)  # fmt: skip
    launch_campaign(app, campaign_id)
    assert client.delete(f"{url}/de", headers=headers).status_code == 409
    assert client.put(f"{url}/de", json={"subject": "x", "body": "y"},
                      headers=headers).status_code == 409  # fmt: skip
    assert _variants(app, campaign_id) == {"de": GERMAN[0]}
    viewer = bearer(token_for(app, "viewer", "write"))
    assert client.get(url, headers=viewer).status_code == 200
    assert client.post(url, json={"language": "fr", "subject": "x", "body": "y"},
                       headers=viewer).status_code == 403  # fmt: skip


def test_a_test_send_reaches_the_given_address_only(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """The chosen MEP's German copy goes to the given address: "[TEST] " + the German subject,
    X-Outreach-Test naming the MEP, nothing to the MEP, no Delivery row; without `to` the copy
    goes to the token's user; a bad address is 422 and sends nothing."""
    token = token_for(app, "campaigner", "write")
    headers = bearer(token)
    campaign_id, contact = _maltese(app)
    client.post(f"/api/v1/campaigns/{campaign_id}/languages",
                json={"language": "de", "subject": GERMAN[0], "body": GERMAN[1]},
                headers=headers)  # fmt: skip
    resp = client.post(
        f"/api/v1/campaigns/{campaign_id}/test-send",
        json={"contact_id": contact.id, "language": "de", "to": "reviewer@example.net"},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["outcome"] == "sent"
    assert resp.get_json()["code"] == 250
    (received,) = read_mailbox(smtp_server.handler.maildir)
    assert received.envelope_to == ["reviewer@example.net"]
    assert received.subject == f"[TEST] Ein Brief an {contact.display_name}"
    assert str(received.message["X-Outreach-Test"]).strip().endswith(f"(contact {contact.id})")
    assert "Wir schreiben Ihnen" in received.body_text
    assert count_rows(app, Delivery) == 0

    mine = client.post(f"/api/v1/campaigns/{campaign_id}/test-send", json={}, headers=headers)
    assert mine.status_code == 200
    assert mine.get_json()["to"] == "campaigner-write@example.org"
    assert mine.get_json()["contact_id"] == contact.id  # the first recipient
    bad = client.post(f"/api/v1/campaigns/{campaign_id}/test-send",
                      json={"to": "not an address"}, headers=headers)  # fmt: skip
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "to"
    assert len(read_mailbox(smtp_server.handler.maildir)) == 2


def test_test_sends_are_limited_per_user_and_a_refusing_relay_is_reported(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """A relay answering 550 makes a 422 that quotes it; that and four more sends make the five a
    minute allowed, the sixth and seventh are 429 problems, and the relay kept exactly the four
    it accepted."""
    headers = bearer(token_for(app))
    campaign_id, _contact = _maltese(app)
    url = f"/api/v1/campaigns/{campaign_id}/test-send"
    smtp_server.handler.set_fault("550 5.7.1 relaying denied", 1)
    refused = client.post(url, json={}, headers=headers)
    assert refused.status_code == 422
    assert "550 5.7.1 relaying denied" in refused.get_json()["detail"]
    answers = [client.post(url, json={}, headers=headers).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]
    last = client.post(url, json={}, headers=headers)
    assert last.status_code == 429
    assert last.headers["Content-Type"] == "application/problem+json"
    assert len(read_mailbox(smtp_server.handler.maildir)) == 4
