"""The directory in a real browser: the audience builder's live count, and an import from upload
to applied, checked against the database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from contacts.audience import Audience
from contacts.bundled import load_bundled
from contacts.models import Contact, ImportRun, SavedAudience
from outreach.extensions import get_db
from tests.browser import LiveServer, shoot, sign_in

pytestmark = pytest.mark.browser
DATA = Path(__file__).parent / "data" / "importers"


def test_the_audience_builder_counts_live_and_explains_errors(
    app: Flask, page: Page, live_server: LiveServer, admin: tuple[str, str]
) -> None:
    """Typing a filter shows how many officials it reaches (the number the database gives) and
    who is left out; a typo shows what is wrong; the saved audience is listed with its count."""
    with app.app_context():
        session = get_db().factory()
        load_bundled(session)
        session.commit()
        expected = Audience(filter="body:D-CN except group:ESN").count(session)
        session.close()
    sign_in(page, live_server.url, *admin)
    page.goto("/audiences/new")
    page.get_by_label("Name", exact=True).fill("China delegation")
    page.get_by_label("Filter", exact=True).fill("body:D-CN except group:ESN")
    live = page.locator("#audience-live")
    expect(live).to_contain_text(f"{expected} officials will receive the letter")
    page.get_by_label("Filter", exact=True).fill("kind:senator")
    expect(live).to_contain_text("unknown kind 'senator'")
    page.get_by_label("Filter", exact=True).fill("kind:minister")
    expect(live).to_contain_text(
        "0 officials will receive the letter; 27 left out (27 waiting for review)"
    )
    page.get_by_label("Filter", exact=True).fill("body:D-CN except group:ESN")
    page.get_by_role("button", name="Save audience").click()
    expect(page.locator("table")).to_contain_text("China delegation")
    expect(page.locator("table")).to_contain_text(str(expected))
    shoot(page, "audiences")
    with app.app_context():
        saved = get_db().session.scalars(select(SavedAudience)).one()
    assert saved.filter == "body:D-CN except group:ESN"


def test_an_import_from_upload_to_apply(
    app: Flask, page: Page, live_server: LiveServer, admin: tuple[str, str]
) -> None:
    """Upload a messy CSV, read the rejected rows with their lines, apply, and find the two new
    officials in the directory and the run in the import history."""
    sign_in(page, live_server.url, *admin)
    page.goto("/contacts/import")
    page.set_input_files("#file", str(DATA / "dirty_semicolon_bom.csv"))
    page.get_by_role("button", name="Upload and review").click()
    expect(page.locator("h1")).to_contain_text("Review: dirty_semicolon_bom.csv")
    expect(page.locator("table", has_text="no name")).to_contain_text("duplicate address")
    shoot(page, "import-review")
    page.get_by_role("button", name=re.compile(r"^Apply: 2 new")).click()
    expect(page.locator(".flash.success")).to_contain_text(
        "Imported dirty_semicolon_bom.csv: 2 new"
    )
    page.goto("/contacts?q=stra")
    expect(page.locator("table")).to_contain_text("Jürgen Straß")
    with app.app_context():
        session = get_db().session
        names = sorted(session.scalars(select(Contact.display_name)))
        runs = session.scalars(select(ImportRun)).all()
    assert names == ["Jürgen Straß", "Élodie Bérégovoy"]
    assert len(runs) == 1
