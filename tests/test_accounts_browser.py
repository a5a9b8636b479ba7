"""Accounts in a real browser (Debian's Chromium through Playwright, the app over real HTTP, a
real worker and SMTP server): an admin invites a colleague from the users page, the colleague
opens the link from the mail the SMTP server received, chooses a password, is signed in, and
turns on the second factor by scanning the QR code drawn on the page (its key read off the page
as an app would) and typing the app's code; the next sign-in asks for a code."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from outreach.devmail import read_mailbox
from tests.browser import TIMEOUT_MS, LiveServer, shoot, sign_in
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_invitation_to_second_factor_in_the_browser(
    app: Flask,
    page: Page,
    browser: Browser,
    live_server: LiveServer,
    admin: tuple[str, str],
    worker: Any,
) -> None:
    sign_in(page, live_server.url, *admin)
    page.get_by_role("link", name="Users").click()
    page.get_by_label("E-mail address").fill("colleague@example.org")
    page.get_by_label("Role").first.select_option("viewer")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator(".flash")).to_contain_text("Invitation on its way to colleague@example.org")
    expect(page.locator("tr", has_text="colleague@example.org")).to_contain_text("invited")
    shoot(page, "accounts-users")

    devmail = app.config["OUTREACH"].devmail_path
    wait_for(lambda: any("colleague@example.org" in m.envelope_to for m in read_mailbox(devmail)))
    [mail] = [m for m in read_mailbox(devmail) if "colleague@example.org" in m.envelope_to]
    path = re.search(r"/account/invite/[A-Za-z0-9_-]+", mail.body_text)
    assert path

    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    colleague = context.new_page()
    try:
        colleague.goto(path.group(0))
        colleague.get_by_label("New password").fill("short")
        colleague.get_by_label("The same password again").fill("short")
        colleague.get_by_role("button", name="Finish my account").click()
        expect(colleague.locator(".errors")).to_contain_text("at least 12 characters")
        colleague.get_by_label("New password").fill("a meadow of quiet owls")
        colleague.get_by_label("The same password again").fill("a meadow of quiet owls")
        colleague.get_by_role("button", name="Finish my account").click()
        expect(colleague.locator("header")).to_contain_text("colleague@example.org (viewer)")

        colleague.get_by_role("link", name="Security").click()
        colleague.get_by_role("button", name="Set up the second factor").click()
        expect(colleague.locator("figure svg")).to_be_visible()
        shoot(colleague, "accounts-enrol")
        secret = colleague.locator("#totp-secret").inner_text()
        colleague.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
        colleague.get_by_role("button", name="Turn it on").click()
        expect(colleague.locator("#recovery-codes li")).to_have_count(10)

        colleague.get_by_role("button", name="Sign out").click()
        colleague.get_by_label("E-mail", exact=True).fill("colleague@example.org")
        colleague.get_by_label("Password", exact=True).fill("a meadow of quiet owls")
        colleague.get_by_role("button", name="Sign in", exact=True).click()
        expect(colleague.get_by_role("heading", name="Second step")).to_be_visible()
        colleague.get_by_label("Code from your authenticator app, or a recovery code").fill(
            pyotp.TOTP(secret).at(time.time() + 30)
        )
        colleague.get_by_role("button", name="Sign in").click()
        expect(colleague.locator("header")).to_contain_text("colleague@example.org (viewer)")
    finally:
        context.close()
