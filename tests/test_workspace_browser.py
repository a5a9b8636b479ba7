"""The campaign workspace in Debian's Chromium: on a laptop screen the steps and the letter
editor's live preview work (the preview follows what staff type, shows a template error inline,
and changes with the chosen recipient, without reloading the page); on a phone (390 px wide) the
campaign page and the launch confirmation fit the screen and stay readable. No page logs a
console error. Screenshots go to /tmp/outreach-shots/workspace-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import select

from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.letters import set_variant
from outreach.extensions import get_db
from tests.browser import TIMEOUT_MS, LiveServer, shoot, sign_in

BODY_EN = "{{ salutation }}\n\nWe write to you about press freedom."
STEPS = ["Letter", "Audience", "Signatories", "Sending", "Check", "Test send", "Launch", "Progress"]


def _campaign(app: Flask) -> tuple[int, list[tuple[int, str]]]:
    """A two-language draft to the Maltese MEPs; its id and the MEPs (id, name) by name."""
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
        campaign = services.create_campaign(
            session,
            name="Press freedom",
            subject="Press freedom",
            body=BODY_EN,
            audience={"filter": "kind:mep and country:MT"},
            signatories=[{"name": "Human Rights Coalition", "url": "https://hrc.example.org"}],
        )
        set_variant(session, campaign, "de", "Pressefreiheit", "{{ salutation }}\n\nHallo.")
        meps = [
            (cid, name)
            for cid, name in session.execute(
                select(Contact.id, Contact.display_name)
                .where(Contact.kind == "mep", Contact.country_code == "MT")
                .order_by(Contact.display_name, Contact.id)
            )
        ]
        return campaign.id, meps


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico by itself; the app has none (not this page's doing).
        if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
            errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _fits(page: Page) -> bool:
    """Nothing makes the page wider than the window (no sideways scrolling)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        base_url=live_server.url,
    )
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def test_on_a_laptop_the_live_preview_follows_the_letter_as_it_is_typed(
    app: Flask, page: Page, live_server: LiveServer, admin: tuple[str, str]
) -> None:
    campaign_id, meps = _campaign(app)
    errors = _console_errors(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, live_server.url, *admin)

    page.goto(f"/campaigns/{campaign_id}")
    steps = page.get_by_role("navigation", name="Steps of the drive")
    expect(steps.get_by_role("listitem")).to_have_count(8)
    for label in STEPS:
        expect(steps).to_contain_text(label)
    expect(steps.locator('[data-step="check"]')).to_contain_text("not yet")
    assert _fits(page)
    shoot(page, "workspace-laptop-campaign")

    # The letter editor: typing updates the preview of the first recipient in place.
    page.get_by_role("link", name="English (en) default").first.click()
    expect(page.get_by_role("heading", name="Live preview")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    frame = page.frame_locator("#live-preview iframe.letter-html")
    expect(frame.locator("body")).to_contain_text("We write to you about press freedom.")
    body = page.get_by_label("Letter", exact=True)
    body.fill("{{ salutation }}\n\nTyped for {{ recipient.display_name }} just now.")
    _, first_name = meps[0]
    expect(frame.locator("body")).to_contain_text(f"Typed for {first_name} just now.")

    # A misspelt placeholder: the error shows inline, with its line; fixing it brings the copy back.
    body.fill("{{ salutation }}\n\n{{ recipient.nmae }}")
    alert = page.locator("#live-preview [role=alert]")
    expect(alert).to_contain_text("nmae")
    body.fill("{{ salutation }}\n\nFor {{ recipient.display_name }}.")
    expect(alert).to_have_count(0)

    # Another recipient.
    other_id, other_name = meps[-1]
    page.get_by_label("The copy of").select_option(str(other_id))
    expect(frame.locator("body")).to_contain_text(f"For {other_name}.")
    assert page.evaluate("window.__sameDocument === true")  # no reload: the preview was fetched
    assert _fits(page)
    shoot(page, "workspace-laptop-editor")

    # The German tab is the German version's editor, with its own preview.
    page.get_by_role("link", name="German (de)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The letter in German (de)")
    expect(frame.locator("body")).to_contain_text("Hallo.")
    assert errors == []


def test_on_a_phone_the_campaign_page_and_the_launch_confirmation_are_readable(
    app: Flask, phone: Page, live_server: LiveServer, admin: tuple[str, str]
) -> None:
    campaign_id, meps = _campaign(app)
    errors = _console_errors(phone)
    sign_in(phone, live_server.url, *admin)

    phone.goto(f"/campaigns/{campaign_id}")
    steps = phone.get_by_role("navigation", name="Steps of the drive")
    expect(steps.get_by_role("listitem")).to_have_count(8)
    assert _fits(phone)
    # The step bar wraps into rows: every step is on the screen, none cut off.
    boxes = [item.bounding_box() for item in steps.get_by_role("listitem").all()]
    assert all(b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 390 for b in boxes)
    # Body text is not shrunk below a readable size.
    size = phone.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 14
    shoot(phone, "workspace-phone-campaign")

    phone.get_by_role("link", name=f"Launch to {len(meps)} officials").click()
    send = phone.get_by_role("button", name=f"Send {len(meps)} letters now")
    expect(send).to_be_visible()
    box = send.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    expect(phone.locator("ul.language-split")).to_contain_text("in English")
    expect(phone.get_by_label("Launch on (UTC)")).to_be_visible()
    assert _fits(phone)
    shoot(phone, "workspace-phone-launch")

    phone.goto(f"/campaigns/{campaign_id}/edit")
    expect(phone.get_by_role("heading", name="Live preview")).to_be_visible()
    assert _fits(phone)
    shoot(phone, "workspace-phone-editor")
    assert errors == []
