"""The console with the keyboard alone: Tab, typing, Enter; never the mouse.

Real Chromium against the app over real HTTP. Each Tab stop is checked to show a visible focus
ring (`:focus-visible` with an outline or a shadow), and the tests assert what the keyboard did:
the user is signed in, the campaign is in the database with what was typed, the test copy reached
the real SMTP server.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from contacts.bundled import load_bundled
from outreach.campaigns.models import Campaign
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.a11y import focused, tab_to
from tests.browser import LiveServer

pytestmark = pytest.mark.browser


def test_sign_in_and_a_campaign_with_the_keyboard_only(
    page: Page,
    live_server: LiveServer,
    admin: tuple[str, str],
    app: Flask,
    smtp_server: CaptureServer,
) -> None:
    """Sign-in: the e-mail field has the focus on arrival, Tab reaches the password and the Sign
    in button, Enter signs in. The first Tab of a console page is the skip link, which moves the
    focus to the main content. From the dashboard, Tab reaches "New campaign"; the form's fields
    are filled in tab order and "Save draft" saves the typed campaign. On its page, Tab reaches
    Edit, Check every copy, the test-send button, the preview picker and, last, the launch button;
    Enter on the test-send button sends the copy to the signed-in admin (the SMTP server receives
    it)."""
    email, password = admin
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)

    page.goto("/login")
    start = focused(page)
    assert start is not None
    assert start.name == "E-mail", start
    page.keyboard.type(email)
    tab_to(page, "Password", limit=1)
    page.keyboard.type(password)
    tab_to(page, "Sign in", limit=1)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()

    # The skip link comes first and takes the focus past the navigation.
    first = tab_to(page, "Skip to content", limit=1)
    assert first[0].tag == "a"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    stops = tab_to(page, "New campaign")
    assert "Campaigns" not in [s.name for s in stops]  # the skip link skipped the navigation
    page.keyboard.press("Enter")
    page.wait_for_url("**/campaigns/new")

    tab_to(page, "Name")
    page.keyboard.type("Keyboard letter")
    tab_to(page, "Subject")
    page.keyboard.type("Press freedom")
    tab_to(page, "Letter")
    page.keyboard.type("{{ salutation }}\n\nPlease support the resolution.")
    tab_to(page, "Audience")
    page.keyboard.type("country:MT")
    tab_to(page, "Save draft")
    page.keyboard.press("Enter")
    page.wait_for_url("**/campaigns/*")
    expect(page.locator(".flash.success")).to_contain_text("saved as a draft")
    campaign_id = int(urlsplit(page.url).path.rsplit("/", 1)[1])
    with app.app_context(), get_db().transaction() as session:
        saved = session.scalar(select(Campaign).where(Campaign.id == campaign_id))
        assert saved is not None
        assert (saved.name, saved.subject_template) == ("Keyboard letter", "Press freedom")
        assert saved.audience == {"filter": "country:MT"}
        assert "Please support the resolution." in saved.body_template

    order = [s.name for s in tab_to(page, "Launch to 6 officials", limit=150)]

    def is_test_send(name: str | None) -> bool:
        return (
            bool(name) and name.startswith("Send ") and name.endswith(("copy to me", "test to me"))
        )

    for control in ("Edit", "Check every copy", "Preview the copy of", "or contact id"):
        assert control in order, (control, order)
    test_send = next(i for i, name in enumerate(order) if is_test_send(name))
    assert order.index("Edit") < test_send < len(order) - 1

    page.keyboard.press("Shift+Tab")  # back up the page to the test-send button
    while (now := focused(page)) is not None and not is_test_send(now.name):
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".flash.success")).to_contain_text(f"Test sent to {email}")
    received = read_mailbox(smtp_server.handler.maildir)
    assert [m.envelope_to for m in received] == [[email]]
    assert str(received[0].message["Subject"]).startswith("[TEST]")
