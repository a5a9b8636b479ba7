"""The public campaign page in headless Chromium, as supporters use it: on a phone, in German,
and with the form tampered with. Real parts: the app over HTTP, Redis, a dramatiq Worker, the
SMTP capture server; the assertions are on rows and on the mail the server received."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from outreach.devmail import CaptureServer, read_mailbox
from outreach.supporters.models import Signature
from tests.browser import TIMEOUT_MS, LiveServer, shoot
from tests.conftest import count_rows, running_worker, wait_for
from tests.supporters import configure, confirmation_link, public_campaign

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A phone-sized, touch browser context in English."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
        base_url=live_server.url,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _fill(page: Page, email: str = "ana@example.org") -> None:
    page.get_by_label("Your name", exact=True).fill("Ana Example")
    page.get_by_label("E-mail address", exact=True).fill(email)
    page.get_by_label("Country", exact=True).select_option("BE")
    page.get_by_label("Show my name among the co-signers").check()
    page.get_by_label("I have read the privacy notice").check()


def test_sign_on_a_phone_confirm_from_the_mail_and_see_the_counter_move(
    app: Flask, phone: Page, live_server: LiveServer, smtp_server: CaptureServer
) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=1, base_url=live_server.url)
    phone.goto("/c/free-them")
    expect(phone.get_by_role("heading", name="Release the twelve fishermen")).to_be_visible()
    expect(phone.locator("[data-count]")).to_have_text("0")
    # Readable on a phone: nothing wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _fill(phone)
    phone.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    phone.get_by_role("button", name="Sign the letter").click()
    expect(phone.get_by_role("status")).to_contain_text("check your inbox")
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 1, timeout=20)
    [mail] = read_mailbox(smtp_server.handler.maildir)
    assert mail.envelope_to == ["ana@example.org"]
    link = confirmation_link(mail.body_text)
    assert link.startswith(live_server.url)
    phone.goto(urlsplit(link).path)
    phone.get_by_role("button", name="Confirm my signature").click()
    expect(phone.get_by_role("status")).to_contain_text("your signature is confirmed")
    expect(phone.locator("[data-count]")).to_have_text("1")
    expect(phone.locator(".cosigners")).to_contain_text("Ana Example")
    shoot(phone, "public-phone-confirmed")


def test_a_filled_honeypot_stores_nothing(app: Flask, page: Page) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    page.goto("/c/free-them")
    _fill(page)
    # What a form-filling bot does: it fills every input, the hidden one too.
    page.evaluate("document.querySelector('input[name=website]').value = 'https://spam.example'")
    page.get_by_role("button", name="Sign the letter").click()
    expect(page.get_by_role("status")).to_contain_text("check your inbox")
    assert count_rows(app, Signature) == 0


def test_a_tampered_form_token_is_refused(app: Flask, page: Page) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    page.goto("/c/free-them")
    _fill(page)
    page.evaluate("document.querySelector('input[name=csrf_token]').value = 'forged'")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign the letter").click()
    assert answer.value.status == 400
    expect(page.get_by_role("heading", name="Your form could not be accepted")).to_be_visible()
    assert count_rows(app, Signature) == 0


def test_the_page_follows_a_german_browser_and_its_errors_are_german(
    app: Flask, browser: Browser, live_server: LiveServer
) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    context = browser.new_context(locale="de-DE", base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto("/c/free-them")
        assert page.get_attribute("html", "lang") == "de"
        page.get_by_label("E-Mail-Adresse").fill("keine adresse")
        page.get_by_role("button", name="Brief unterschreiben").click()
        expect(page.get_by_role("alert")).to_contain_text("Bitte korrigieren Sie Folgendes")
        expect(page.locator("#name-error")).to_have_text("Bitte geben Sie Ihren Namen ein.")
        expect(page.locator("#email-error")).to_have_text("Diese E-Mail-Adresse ist ungültig.")
        # The switch leads to the French page.
        page.get_by_role("link", name="Français").click()
        expect(page.get_by_role("button", name="Signer la lettre")).to_be_visible()
    finally:
        context.close()
    assert count_rows(app, Signature) == 0
