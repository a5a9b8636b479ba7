"""Importing officials through the console: review first, apply what was reviewed, nothing else."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.models import Contact, ContactChange, ImportMapping, ImportRun
from outreach.extensions import get_db
from tests.conftest import count_rows, csrf_token_from

DATA = Path(__file__).parent / "data" / "importers"
PARTNER_CSV = "Prénom;Nom;Mél pro;Pays\nMarie;Dupont;marie.dupont@example.org;FR\n".encode()


def _upload(client: FlaskClient, name: str, data: bytes, **form: str) -> str:
    token = csrf_token_from(client.get("/contacts/import").get_data(as_text=True))
    resp = client.post(
        "/contacts/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _apply_form(page: str) -> tuple[str, dict[str, str]]:
    form = page[page.index('action="/contacts/import/') :]
    action = re.search(r'action="([^"]+/apply)"', form)
    assert action, "no apply form on the page"
    fields = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.split("</form>")[0])
    )
    return action.group(1), fields


def test_an_upload_shows_the_diff_and_every_rejected_row_and_changes_nothing(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("campaigner")
    page = _upload(client, "dirty.csv", (DATA / "dirty_semicolon_bom.csv").read_bytes())
    assert "Review: dirty.csv" in page
    assert re.search(r"<b>2</b>new", page)
    assert re.search(r"<b>6</b>rows rejected", page)
    for line, reason in [
        (8, "no name"),
        (9, "invalid address"),
        (10, "duplicate address"),
        (11, "8 cells, but the header has 7 columns"),
        (13, "invalid address"),
    ]:
        assert re.search(rf"<tr><td>{line}</td><td>{reason}", page), (line, reason)
    assert "Jürgen Straß" in page
    assert count_rows(app, Contact) == 0
    assert count_rows(app, ImportRun) == 0


def test_applying_writes_what_was_reviewed_and_a_second_upload_changes_nothing(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("campaigner")
    page = _upload(client, "dirty.csv", (DATA / "dirty_semicolon_bom.csv").read_bytes())
    action, fields = _apply_form(page)
    resp = client.post(action, data=fields)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/imports/")
    with app.app_context():
        session = get_db().session
        names = sorted(session.scalars(select(Contact.display_name)))
        run = session.scalars(select(ImportRun)).one()
        created = session.scalars(select(ContactChange.field)).all()
    assert names == ["Jürgen Straß", "Élodie Bérégovoy"]
    assert run.counts == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "left_office": 0,
        "rejected": 6,
    }
    assert run.actor.endswith("campaigner@example.org")
    assert created == ["created", "created"]
    run_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Jürgen Straß" in run_page
    assert "Élodie Bérégovoy" in run_page
    assert not list((Path(app.instance_path) / "uploads").iterdir())  # the upload is gone

    again = _upload(client, "dirty.csv", (DATA / "dirty_semicolon_bom.csv").read_bytes())
    assert "Nothing to change" in again
    assert re.search(r"<b>2</b>unchanged", again)


def test_a_directory_changed_since_the_review_is_not_updated_blindly(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Between review and apply someone adds one of the file's officials by hand: applying the
    old review is refused (409) with the new diff, and nothing is imported."""
    client = login("campaigner")
    page = _upload(client, "dirty.csv", (DATA / "dirty_semicolon_bom.csv").read_bytes())
    action, fields = _apply_form(page)
    with app.app_context(), get_db().transaction() as session:
        session.add(
            Contact(display_name="Jürgen Straß", given_name="Jürgen", family_name="Straß",
                    email="juergen.strass@example.org", languages=["de"])
        )  # fmt: skip
    resp = client.post(action, data=fields)
    assert resp.status_code == 409
    assert "changed since you reviewed" in resp.get_data(as_text=True)
    assert re.search(r"<b>1</b>new", resp.get_data(as_text=True))
    assert count_rows(app, ImportRun) == 0
    assert count_rows(app, Contact) == 1


def test_a_corrected_column_mapping_is_used_and_can_be_saved_for_next_time(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """ "Mél pro" is not recognised as the address; mapping it by hand reads the address, and the
    saved mapping reads the next partner file the same way."""
    client = login("campaigner")
    page = _upload(client, "partner.csv", PARTNER_CSV)
    assert "will have no e-mail address" in page
    review = page[page.index("<h2>Columns</h2>") :]
    action = re.search(r'action="(/contacts/import/[^"/]+)"', review)
    assert action
    columns = dict(re.findall(r'<input type="hidden" name="(col-\d+)" value="([^"]*)"', review))
    form = {"csrf_token": csrf_token_from(page), "format": "csv", **columns}
    form.update(
        {"map-0": "given_name", "map-1": "family_name", "map-2": "email", "map-3": "country_code"}
    )
    form["save_mapping_as"] = "Partner list"
    again = client.post(action.group(1), data=form)
    text = again.get_data(as_text=True)
    assert again.status_code == 200
    assert "marie.dupont@example.org" in text
    assert "will have no e-mail address" not in text
    with app.app_context():
        saved = get_db().session.scalars(select(ImportMapping)).one()
    assert saved.name == "Partner list"
    assert saved.mapping["Mél pro"] == "email"

    next_file = _upload(client, "partner2.csv", PARTNER_CSV, mapping_name="Partner list")
    assert "marie.dupont@example.org" in next_file


def test_a_malformed_file_is_refused_with_its_reason(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("campaigner")
    page = _upload(client, "broken.xml", (DATA / "broken.xml").read_bytes())
    assert "Nothing was imported: " in page
    assert count_rows(app, Contact) == 0


def test_the_eps_own_xml_imports_as_a_complete_list_of_meps(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    client = login("admin")
    page = _upload(client, "ep.xml", (DATA / "ep_fulllist_term10_first150.xml").read_bytes())
    assert re.search(r"<b>150</b>new", page)
    action, fields = _apply_form(page)
    assert client.post(action, data=fields).status_code == 302
    with app.app_context():
        kinds = set(get_db().session.scalars(select(Contact.kind)))
    assert kinds == {"mep"}
    assert count_rows(app, Contact) == 150


def test_a_recognised_column_can_be_ignored_and_stays_ignored_in_the_saved_mapping(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Setting "Pays" to (ignore) drops the country from the plan; the saved mapping keeps the
    column ignored for the next file."""
    client = login("campaigner")
    page = _upload(client, "partner.csv", PARTNER_CSV)
    review = page[page.index("<h2>Columns</h2>") :]
    action = re.search(r'action="(/contacts/import/[^"/]+)"', review)
    assert action
    columns = dict(re.findall(r'<input type="hidden" name="(col-\d+)" value="([^"]*)"', review))
    form = {"csrf_token": csrf_token_from(page), "format": "csv", **columns}
    form.update({"map-0": "given_name", "map-1": "family_name", "map-2": "email", "map-3": ""})
    form["save_mapping_as"] = "No country"
    text = client.post(action.group(1), data=form).get_data(as_text=True)
    new_rows = text[text.index("<h2>New") :]
    assert "marie.dupont@example.org" in new_rows
    assert "<td>FR</td>" not in new_rows
    with app.app_context():
        saved = get_db().session.scalars(select(ImportMapping)).one()
    assert saved.mapping["Pays"] is None
    again = _upload(client, "partner2.csv", PARTNER_CSV, mapping_name="No country")
    assert "<td>FR</td>" not in again[again.index("<h2>New") :]


def test_uploads_left_for_a_week_are_removed_by_the_next_upload(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    import os
    import time

    client = login("campaigner")
    _upload(client, "partner.csv", PARTNER_CSV)
    folder = Path(app.instance_path) / "uploads"
    old = list(folder.iterdir())
    assert len(old) == 2  # the file and its name
    week_ago = time.time() - 8 * 24 * 3600
    for path in old:
        os.utime(path, (week_ago, week_ago))
    _upload(client, "partner2.csv", PARTNER_CSV)
    assert not any(path.exists() for path in old)
    assert len(list(folder.iterdir())) == 2
