"""The audit log: every state-changing console request that committed a change is recorded once
with who, when and what (one central hook, described per endpoint), sign-ins and failed sign-ins
too; refused or changeless requests record nothing; no supporter's or typed data goes in. The
admins' page lists it newest first, filtered and paginated, and exports CSV with formula cells
neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from contacts.base import utcnow
from outreach.audit import AuditEvent, record
from outreach.extensions import get_db
from tests.conftest import csrf_token_from, draft_campaign


def events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        return list(get_db().session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def post(client: FlaskClient, url: str, data: dict[str, str], page: str) -> object:
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def test_console_actions_are_recorded_with_who_what_and_counts(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Creating and editing a campaign, launching one (with its count), pausing and cancelling
    it, a token, a webhook and inviting a user: one event each, naming the user, the object and
    what was done."""
    client = login("admin")
    resp = post(client, "/campaigns/new",
                {"name": "Fishermen", "subject": "Hi", "body": "{{ salutation }}", "audience": "country:MT"},
                page="/campaigns/new")  # fmt: skip
    campaign_id = int(resp.headers["Location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
    post(client, f"/campaigns/{campaign_id}/edit",
         {"name": "Fishermen 2", "subject": "Hi", "body": "{{ salutation }}", "audience": "country:MT"},
         page=f"/campaigns/{campaign_id}/edit")  # fmt: skip
    launched = draft_campaign(app, {"filter": "country:LU"})
    from outreach.campaigns import services
    from outreach.campaigns.models import Campaign

    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, launched)
        assert campaign is not None
        digest = services.lint(session, campaign).digest
    post(client, f"/campaigns/{launched}/launch", {"lint_digest": digest, "confirm": "y"},
         page=f"/campaigns/{launched}")  # fmt: skip
    post(client, f"/campaigns/{launched}/pause", {}, page=f"/campaigns/{launched}")
    post(client, f"/campaigns/{launched}/cancel", {}, page=f"/campaigns/{launched}")
    post(client, "/account/tokens", {"name": "reporting", "scope": "read"}, page="/account/tokens")
    post(client, "/webhooks", {"url": "https://hooks.example.org/in", "events": "delivery.sent"},
         page="/webhooks")  # fmt: skip
    post(client, "/admin/users/invite", {"email": "newcomer@example.org", "role": "viewer"},
         page="/admin/users")  # fmt: skip

    rows = [(e.action, e.object_type, e.object_id, e.summary, e.detail) for e in events(app)]
    assert rows[0][0] == "auth.sign_in"
    assert (
        "campaign.create",
        "campaign",
        str(campaign_id),
        f"Created campaign {campaign_id}",
        None,
    ) in rows
    assert (
        "campaign.edit",
        "campaign",
        str(campaign_id),
        f"Edited campaign {campaign_id}",
        None,
    ) in rows
    assert ("campaign.launch", "campaign", str(launched), f"Launched campaign {launched}",
            "6 letters queued") in rows  # fmt: skip
    assert (
        "campaign.pause",
        "campaign",
        str(launched),
        f"Paused campaign {launched}",
        None,
    ) in rows
    assert (
        "campaign.cancel",
        "campaign",
        str(launched),
        f"Cancelled campaign {launched}",
        None,
    ) in rows
    assert [r[0] for r in rows[-3:]] == ["token.create", "webhook.create", "user.invite"]
    assert {e.actor for e in events(app)} == {f"user:{events(app)[0].actor_id} admin@example.org"}


def test_sign_in_failures_are_recorded_without_what_was_typed(
    app: Flask, client: FlaskClient, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A wrong password names the account tried; an unknown address names no one and keeps
    neither the address nor the password typed."""
    email, _ = make_user(email="staff@example.org")
    for address, password in ((email, "guess one two"), ("stranger@example.org", "secret pass!")):
        post(client, "/login", {"email": address, "password": password}, page="/login")
    known, unknown = events(app)
    assert (known.action, known.object_type, known.summary) == (
        "auth.sign_in_failed",
        "user",
        "Failed sign-in: wrong password",
    )
    assert known.actor.endswith(email)
    assert (unknown.actor, unknown.actor_id, unknown.summary) == (
        "anonymous",
        None,
        "Failed sign-in: unknown address",
    )
    stored = repr([vars(e) for e in events(app)])
    assert "stranger" not in stored
    assert "guess one two" not in stored
    assert "secret pass!" not in stored


def test_refused_and_changeless_requests_record_nothing(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """A form with errors and a launch refused by the check: no event beyond the sign-in (a
    viewer's refused POSTs: tests/test_admin_access.py)."""
    client = login("admin")
    post(client, "/campaigns/new", {"name": "", "subject": "", "body": ""}, page="/campaigns/new")
    # Identical copies: the check warns, and a launch without confirming them is refused.
    unread = draft_campaign(app, {"filter": "country:MT"}, body="Dear Member,\n\nPlease act.")
    resp = post(client, f"/campaigns/{unread}/launch", {}, page=f"/campaigns/{unread}")
    assert resp.headers["Location"].endswith("/check")  # type: ignore[attr-defined]
    assert [e.action for e in events(app)] == ["auth.sign_in"]


def test_the_audit_page_filters_paginates_and_exports(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """60 events: 50 on the first page, newest first; filters by actor, action, object and date
    narrow the list; the CSV export holds the same selection with a formula cell neutralised."""
    client = login("admin")
    with app.app_context(), get_db().transaction() as session:
        for i in range(60):
            record(session, actor="user:99 old@example.org", actor_id=99, action="campaign.edit",
                   object_type="campaign", object_id=i, summary=f"Edited campaign {i}")  # fmt: skip
        record(session, actor="user:99 old@example.org", actor_id=99, action="contact.edit",
               object_type="contact", object_id=7, summary="=HYPERLINK(\"http://x\")")  # fmt: skip
        session.flush()
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.object_type == "campaign", AuditEvent.object_id == "0")
            .values(at=utcnow() - timedelta(days=10))
        )
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.count("<tr>") == 51  # header + 50
    assert page.index("=HYPERLINK") < page.index("Edited campaign 59")  # newest first
    assert "Page 1 of 2" in page
    assert "Edited campaign 0<" in client.get("/admin/audit?page=2").get_data(as_text=True)

    by_action = client.get("/admin/audit?action=contact.edit").get_data(as_text=True)
    assert "HYPERLINK" in by_action
    assert "Edited campaign" not in by_action
    by_object = client.get("/admin/audit?object_type=campaign&object_id=12").get_data(as_text=True)
    assert "Edited campaign 12<" in by_object
    assert "1 in all" in by_object
    old_day = (utcnow() - timedelta(days=10)).date().isoformat()
    by_date = client.get(f"/admin/audit?since={old_day}&until={old_day}").get_data(as_text=True)
    assert "Edited campaign 0<" in by_date
    assert "1 in all" in by_date
    by_actor = client.get("/admin/audit?actor=99").get_data(as_text=True)
    assert "61 in all" in by_actor

    exported = client.get("/admin/audit.csv?actor=99")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["at", "actor", "action", "object_type", "object_id", "summary", "detail"]
    assert len(rows) == 62
    assert rows[1][5] == '\'=HYPERLINK("http://x")'


def test_an_import_is_recorded_with_its_counts(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Applying a reviewed CSV import records the import run and its counts."""
    import re

    client = login("campaigner")
    data = (
        "given_name,family_name,email,country,kind\nAna,Ionescu,ana.ionescu@example.eu,RO,other\n"
    )
    token = csrf_token_from(client.get("/contacts/import").get_data(as_text=True))
    review = client.post(
        "/contacts/import",
        data={"csrf_token": token, "file": (io.BytesIO(data.encode()), "people.csv")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    action = re.search(r'action="(/contacts/import/[^"/]+/apply)"', review)
    digest = re.search(r'name="digest" value="(\w+)"', review)
    assert action, review[:2000]
    assert digest
    form = {"csrf_token": csrf_token_from(review), "digest": digest.group(1)}
    for name, value in re.findall(
        r'<input type="hidden" name="(format|map-[^"]+)" value="([^"]*)"', review
    ):
        form[name] = value
    resp = client.post(action.group(1), data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    [imported] = [e for e in events(app) if e.action == "import.apply"]
    assert imported.object_type == "import_run"
    assert "created: 1" in (imported.detail or "")
    assert "Ionescu" not in repr(vars(imported))


def _events_aged(app: Flask, ages_in_days: list[float]) -> None:
    """One event per age, recorded as if that many days ago."""
    with app.app_context(), get_db().transaction() as session:
        for i, age in enumerate(ages_in_days):
            event = record(session, actor="tester", action="test.aged", summary=f"event {i}")
            event.at = utcnow() - timedelta(days=age)


def test_retention_deletes_old_events_in_batches_and_keeps_recent_ones(app: Flask) -> None:
    """With a retention of 730 days, the seven events older than that go (three transactions of
    at most three rows), the three younger ones stay; 0 days keeps everything."""
    from outreach.audit import prune

    _events_aged(app, [731, 800, 1000, 2000, 730.01, 900, 3650, 729.9, 30, 0])
    with app.app_context():
        transaction = get_db().transaction
        assert prune(transaction, days=0, batch_size=3) == 0
        assert len(events(app)) == 10
        assert prune(transaction, days=730, batch_size=3) == 7
        assert prune(transaction, days=730, batch_size=3) == 0  # nothing left to do
    left = events(app)
    assert sorted(e.summary or "" for e in left) == ["event 7", "event 8", "event 9"]


def test_the_maintenance_pass_prunes_the_audit_log(app: Flask) -> None:
    """The reconciler's actor, run by a real worker, prunes with OUTREACH_AUDIT_RETENTION_DAYS."""
    import dataclasses

    from outreach.jobs import RECONCILE, broker_dispatcher
    from tests.conftest import running_worker, wait_for

    app.config["OUTREACH"] = dataclasses.replace(app.config["OUTREACH"], audit_retention_days=90)
    _events_aged(app, [91, 400, 89, 1])
    with running_worker(app) as worker:
        broker_dispatcher(worker.broker)(RECONCILE, ())
        wait_for(lambda: len(events(app)) == 2, timeout=20)
    assert sorted(e.summary or "" for e in events(app)) == ["event 2", "event 3"]
