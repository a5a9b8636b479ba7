"""Keeping the directory right from the console: edits are validated, recorded, and visible."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.bundled import load_bundled
from contacts.models import Contact, ContactChange, SavedAudience
from outreach.extensions import get_db
from tests.conftest import count_rows, csrf_token_from


def _load(app: Flask) -> None:
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)


def _contact(app: Flask, **where: Any) -> Contact:
    with app.app_context():
        session = get_db().factory()
        contact = session.scalars(select(Contact).filter_by(**where)).one()
        _ = contact.alternate_emails, contact.tag_rows
        session.close()
        return contact


def _form(client: FlaskClient, url: str) -> dict[str, str]:
    """The form's current values as the browser would post them (checkboxes only when ticked)."""
    import re

    html = client.get(url).get_data(as_text=True)
    data = {"csrf_token": csrf_token_from(html)}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="(\w+)"', tag)
        if name is None or name.group(1) == "csrf_token":
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                data[name.group(1)] = "y"
        else:
            data[name.group(1)] = value.group(1) if value else ""
    for name, body in re.findall(r'<textarea[^>]*name="(\w+)"[^>]*>\n?([^<]*)</textarea>', html):
        data[name] = body
    for name, body in re.findall(r'<select[^>]*name="(\w+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(
            r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', body
        )
        data[name] = next((g for g in chosen.groups() if g is not None), "") if chosen else ""
    return data


def test_an_edit_with_bad_values_shows_every_error_and_changes_nothing(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """A wrong address, an unknown country and do-not-contact without a reason are all reported
    at once, and the record is unchanged."""
    _load(app)
    client = login("campaigner")
    mep = _contact(app, ep_id="256810")
    data = _form(client, f"/contacts/{mep.id}/edit")
    data.update(email="not an address", country="Atlantis", do_not_contact="y")
    resp = client.post(f"/contacts/{mep.id}/edit", data=data)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Nothing was saved" in page
    assert "unknown country &#39;Atlantis&#39;" in page
    assert "say why this official must not be written to" in page
    assert "An email address must have an @-sign" in page
    after = _contact(app, ep_id="256810")
    assert (after.email, after.country_code, after.do_not_contact) == (mep.email, "FI", False)
    with app.app_context():
        edits = (
            get_db()
            .session.scalars(select(ContactChange).where(ContactChange.actor.like("user:%")))
            .all()
        )
    assert edits == []


def test_an_edit_is_saved_with_one_history_row_per_changed_field(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Changing the address, adding an alternate that bounces, tags and a French salutation
    saves exactly those fields and records who changed what; the contact page shows it."""
    _load(app)
    client = login("campaigner")
    mep = _contact(app, ep_id="256810")
    data = _form(client, f"/contacts/{mep.id}/edit")
    data.update(
        email="mika.aaltola.new@europarl.europa.eu",
        alternate_emails=f"{mep.email} bouncing",
        tags="ally, China-hearing",
        salutation_overrides="fr: Monsieur le Député Aaltola,",
    )
    resp = client.post(f"/contacts/{mep.id}/edit", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    after = _contact(app, ep_id="256810")
    assert after.email == "mika.aaltola.new@europarl.europa.eu"
    assert [(e.address, e.status) for e in after.alternate_emails] == [(mep.email, "bouncing")]
    assert after.tags == ["ally", "china-hearing"]
    assert after.salutation_overrides == {"fr": "Monsieur le Député Aaltola,"}
    assert after.languages == mep.languages
    with app.app_context():
        changes = list(
            get_db().session.scalars(
                select(ContactChange)
                .where(ContactChange.actor.like("user:%"))
                .order_by(ContactChange.field)
            )
        )
    assert [c.field for c in changes] == [
        "alternate_emails",
        "email",
        "salutation_overrides",
        "tags",
    ]
    assert all(c.actor.endswith("campaigner@example.org") for c in changes)
    page = client.get(f"/contacts/{mep.id}").get_data(as_text=True)
    assert "mika.aaltola.new@europarl.europa.eu" in page
    assert "salutation overrides" in page


def test_staff_can_add_an_official_the_sources_lack(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("campaigner")
    data = _form(client, "/contacts/new")
    data.update(
        kind="minister",
        honorific="MS",
        given_name="Anna",
        family_name="Example",
        position="Minister for Foreign Affairs",
        country="DE",
        email="minister@auswaertiges-amt.example.org",
        active="y",
    )
    resp = client.post("/contacts/new", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    created = _contact(app, family_name="Example")
    assert (created.kind, created.country_code, created.display_name) == (
        "minister",
        "DE",
        "Anna Example",
    )
    assert created.source == "entered by staff"
    assert created.sendable


def test_a_saved_audience_with_a_bad_filter_is_refused_and_a_good_one_is_listed(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    _load(app)
    client = login("campaigner")
    token = csrf_token_from(client.get("/audiences/new").get_data(as_text=True))
    bad = client.post(
        "/audiences/new", data={"csrf_token": token, "name": "X", "filter": "body:AFET/boss"}
    )
    assert bad.status_code == 400
    assert "unknown role &#39;boss&#39;" in bad.get_data(as_text=True)
    assert count_rows(app, SavedAudience) == 0
    good = client.post(
        "/audiences/new",
        data={"csrf_token": token, "name": "China hearing", "filter": "body:D-CN except group:ESN"},
    )
    assert good.status_code == 302
    listing = client.get("/audiences").get_data(as_text=True)
    assert "China hearing" in listing
    preview = client.get('/audience/preview?filter=list:"China hearing"').get_json()
    assert preview["count"] > 60
    assert client.get("/audience/preview?filter=kind:senator").status_code == 422


def test_the_data_quality_page_lists_officials_to_review_and_without_address(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The 2022 foreign ministers (no address, flagged for review) and the leaders without an
    address appear on the data-quality page."""
    _load(app)
    client = login("viewer")
    page = client.get("/directory/quality").get_data(as_text=True)
    assert "Records to review before sending" in page
    with app.app_context():
        minister = (
            get_db().session.scalars(select(Contact).where(Contact.kind == "minister")).first()
        )
    assert minister is not None
    assert minister.display_name in page
    assert minister.needs_review
