"""The API's resources do what the console does, through the same services: the directory with
the filter language and importer-matched upserts, saved audiences, a campaign from draft to
launch and its drive, letters and their events, replies, and signatures with double opt-in."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from outreach.supporters.models import Signature
from tests.api_support import bearer, token_for


@pytest.fixture
def api(app: Flask, client: FlaskClient) -> Any:
    """A client whose requests carry an admin's write token, on the bundled directory."""
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
    headers = bearer(token_for(app))

    class Api:
        def get(self, url: str, **kw: Any) -> Any:
            return client.get(url, headers=headers, **kw)

        def post(self, url: str, json: Any = None) -> Any:
            return client.post(url, json=json if json is not None else {}, headers=headers)

        def put(self, url: str, json: Any) -> Any:
            return client.put(url, json=json, headers=headers)

    return Api()


def _all_pages(api: Any, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        sep = "&" if "?" in url else "?"
        resp = api.get(f"{url}{sep}limit=7" + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_contacts_filter_and_pages_match_the_audience_language(app: Flask, api: Any) -> None:
    """?filter= selects what the audience language selects; walking the pages returns each
    matching contact once, in id order."""
    items = _all_pages(api, "/api/v1/contacts?filter=kind:mep country:IE")
    with app.app_context():
        expected = list(
            get_db().session.scalars(
                select(Contact.id)
                .where(Contact.kind == "mep", Contact.country_code == "IE")
                .order_by(Contact.id)
            )
        )
    assert [c["id"] for c in items] == expected
    assert len(expected) > 7  # more than one page
    one = api.get(f"/api/v1/contacts/{expected[0]}").get_json()
    assert one["country_code"] == "IE"
    assert one["kind"] == "mep"


def test_upsert_matches_as_the_importer_does(app: Flask, api: Any) -> None:
    """A record with a new address is created; sent again with a changed position it updates the
    same contact (matched by address), a blank erases nothing; dry_run changes nothing; a bad
    address is rejected with its index."""
    record = {"given_name": "Ada", "family_name": "Byron", "emails": ["ada@example.org"],
              "country_code": "FR", "position": "Adviser", "kind": "other"}  # fmt: skip
    body = api.post("/api/v1/contacts/upsert", {"records": [record]}).get_json()
    assert body["counts"]["created"] == 1
    contact_id = body["records"][0]["contact_id"]
    assert body["records"][0]["outcome"] == "created"

    changed = {"emails": ["ADA@example.org"], "given_name": "Ada", "position": "Director"}
    dry = api.post("/api/v1/contacts/upsert", {"records": [changed], "dry_run": True}).get_json()
    assert dry["records"][0] == {"index": 0, "outcome": "updated", "contact_id": contact_id,
                                 "reason": None}  # fmt: skip
    assert dry["import_run_id"] is None
    assert api.get(f"/api/v1/contacts/{contact_id}").get_json()["position"] == "Adviser"

    applied = api.post(
        "/api/v1/contacts/upsert", {"records": [changed, {"given_name": "X", "emails": ["@x"]}]}
    ).get_json()
    assert applied["records"][0]["contact_id"] == contact_id
    assert applied["records"][1]["outcome"] == "rejected"
    assert "invalid address" in applied["records"][1]["reason"]
    got = api.get(f"/api/v1/contacts/{contact_id}").get_json()
    assert (got["position"], got["country_code"]) == ("Director", "FR")


def test_saved_audiences_create_list_get_count(api: Any) -> None:
    made = api.post("/api/v1/audiences", {"name": "Malta", "filter": "kind:mep country:MT"})
    assert made.status_code == 201
    audience = made.get_json()
    assert api.post("/api/v1/audiences", {"name": "MALTA"}).status_code == 422  # same name
    bad = api.post("/api/v1/audiences", {"name": "Bad", "filter": "list:nothing"})
    assert bad.get_json()["errors"][0]["field"] == "filter"
    assert [a["name"] for a in api.get("/api/v1/audiences").get_json()["items"]] == ["Malta"]
    assert (
        api.get(f"/api/v1/audiences/{audience['id']}").get_json()["filter"] == "kind:mep country:MT"
    )
    count = api.get(f"/api/v1/audiences/{audience['id']}/count").get_json()
    assert count["count"] > 0
    assert api.get("/api/v1/audiences/count?filter=list:Malta").get_json() == count


def test_a_campaign_from_draft_to_launch_and_its_drive(app: Flask, api: Any) -> None:
    """Create, update the letter, lint, preview one copy, launch refused until the warnings'
    digest is confirmed (409 gives it), then progress, pause, resume, cancel; letters and their
    events are listed by campaign and state."""
    created = api.post(
        "/api/v1/campaigns",
        {
            "name": "Fishermen",
            "subject": "Port Salé",
            "body": "{{ salutation }}",
            "audience": {"filter": "kind:mep country:MT"},
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    cid = created.get_json()["id"]
    bad = api.put(f"/api/v1/campaigns/{cid}", {"name": "F", "subject": "S", "body": "{{ recipent }}",
                                               "audience": {"filter": "kind:mep"}})  # fmt: skip
    assert bad.status_code == 422
    assert "recipent" in bad.get_json()["detail"]
    updated = api.put(
        f"/api/v1/campaigns/{cid}",
        {
            "name": "Fishermen",
            "subject": "Port Salé",
            "body": "{{ salutation }}\n\nFree them.",
            "audience": {"filter": "kind:mep country:MT"},
            "signatories": [{"name": "Coalition", "url": "https://example.org"}],
        },
    )
    assert updated.get_json()["signatories"] == [
        {"name": "Coalition", "url": "https://example.org"}
    ]

    report = api.post(f"/api/v1/campaigns/{cid}/lint").get_json()
    assert report["errors"] == 0
    with app.app_context():
        someone = get_db().session.scalar(
            select(Contact.id).where(Contact.country_code == "MT", Contact.kind == "mep")
        )
    copy = api.get(f"/api/v1/campaigns/{cid}/preview?contact_id={someone}").get_json()
    assert "Free them." in copy["text"], copy

    refused = api.post(f"/api/v1/campaigns/{cid}/launch")
    if report["warnings"]:
        assert refused.status_code == 409
        assert refused.get_json()["digest"] == report["digest"]
        launched = api.post(
            f"/api/v1/campaigns/{cid}/launch", {"confirm_warnings": report["digest"]}
        )
    else:
        launched = refused
    assert launched.status_code == 202, launched.get_data(as_text=True)
    n = launched.get_json()["deliveries"]
    assert n == report["recipients"]
    assert api.post(f"/api/v1/campaigns/{cid}/launch").status_code == 409  # already launched

    progress = api.get(f"/api/v1/campaigns/{cid}/progress").get_json()
    assert progress["total"] == n
    assert api.post(f"/api/v1/campaigns/{cid}/pause").get_json() == {
        "status": "paused",
        "letters": n,
    }
    held = _all_pages(api, f"/api/v1/deliveries?campaign_id={cid}&state=held")
    assert len(held) == n
    events = api.get(f"/api/v1/deliveries/{held[0]['id']}/events").get_json()["items"]
    assert [e["to_state"] for e in events] == ["queued", "held"]
    assert events[1]["actor"].startswith("user:")
    assert api.post(f"/api/v1/campaigns/{cid}/resume").get_json()["status"] == "sending"
    assert api.post(f"/api/v1/campaigns/{cid}/cancel").get_json() == {
        "status": "cancelled",
        "letters": n,
    }
    assert api.post(f"/api/v1/campaigns/{cid}/pause").status_code == 409
    with app.app_context():
        assert get_db().session.get(Campaign, cid).status == "cancelled"  # type: ignore[union-attr]


def test_replies_are_the_inbound_messages_of_kind_reply(app: Flask, api: Any) -> None:
    from outreach.tracking.models import InboundMessage

    created = api.post(
        "/api/v1/campaigns",
        {
            "name": "R",
            "subject": "S",
            "body": "{{ salutation }}",
            "audience": {"filter": "country:MT"},
        },
    ).get_json()
    with app.app_context(), get_db().transaction() as session:
        contact = session.scalars(select(Contact).where(Contact.country_code == "MT")).first()
        assert contact is not None
        delivery = Delivery(campaign_id=created["id"], contact_id=contact.id, email="x@example.org",
                            state="replied")  # fmt: skip
        session.add(delivery)
        session.flush()
        for i, kind in enumerate(("reply", "auto_reply")):
            session.add(InboundMessage(message_key=f"<{i}@x>", raw=b"", size=0, via="dev",
                                       kind=kind, reply_text="Thank you", delivery_id=delivery.id,
                                       state="processed"))  # fmt: skip
    replies = api.get(f"/api/v1/replies?campaign_id={created['id']}").get_json()["items"]
    assert [r["reply_text"] for r in replies] == ["Thank you"]
    assert api.get(f"/api/v1/replies/{replies[0]['id']}").get_json()["delivery_id"] == delivery.id
    assert api.get(f"/api/v1/replies?campaign_id={created['id'] + 1}").get_json()["items"] == []


def test_signatures_go_through_double_opt_in_and_export_neutralised(
    app: Flask, api: Any, client: FlaskClient
) -> None:
    """A signature added by the API is pending, its confirmation mail deferred, as from the public
    form; signing twice makes no second row; closed signing is a 409; the CSV export writes a
    formula-like name as text."""
    cid = api.post(
        "/api/v1/campaigns",
        {
            "name": "S",
            "subject": "S",
            "body": "{{ salutation }}",
            "audience": {"filter": "country:MT"},
        },
    ).get_json()["id"]
    person = {
        "name": '=HYPERLINK("x")',
        "email": "Sam@Example.org",
        "country": "fr",
        "consent": True,
    }
    assert api.post(f"/api/v1/campaigns/{cid}/signatures", person).status_code == 409
    with app.app_context(), get_db().transaction() as session:
        session.get(Campaign, cid).signing_open = True  # type: ignore[union-attr]
    first = api.post(f"/api/v1/campaigns/{cid}/signatures", person)
    assert first.status_code == 202, first.get_data(as_text=True)
    assert first.get_json()["outcome"] == "new"
    assert first.get_json()["mail_queued"] is True
    assert api.post(f"/api/v1/campaigns/{cid}/signatures", person).get_json()["outcome"] == "again"
    no_consent = api.post(f"/api/v1/campaigns/{cid}/signatures", {**person, "consent": False})
    assert no_consent.get_json()["errors"][0]["field"] == "consent"
    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(Signature)) == 1
    listed = api.get(f"/api/v1/campaigns/{cid}/signatures").get_json()["items"]
    assert [(s["email"], s["state"], s["country"]) for s in listed] == [
        ("sam@example.org", "pending", "FR")
    ]
    with api.get(f"/api/v1/campaigns/{cid}/signatures.csv") as export:
        assert export.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][1] == '\'=HYPERLINK("x")'
    assert rows[1][2] == "sam@example.org"
