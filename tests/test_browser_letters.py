"""Write to your MEPs in headless Chromium on a phone: sign as a supporter in Malta, open the
confirmation link from the captured mail, untick two MEPs, edit the text, confirm; the worker
sends exactly the four letters to the real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from outreach.devmail import CaptureServer, read_mailbox
from tests.browser import TIMEOUT_MS, LiveServer
from tests.conftest import running_worker, wait_for
from tests.supporters import configure, confirmation_link
from tests.test_supporters_letters import letters_campaign, maltese_meps

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
        locale="en-GB", base_url=live_server.url,
    )  # fmt: skip
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_a_supporter_on_a_phone_writes_to_four_of_their_six_meps(
    app: Flask, phone: Page, live_server: LiveServer, smtp_server: CaptureServer
) -> None:
    campaign_id = letters_campaign(app)
    meps = maltese_meps(app, campaign_id)
    configure(app, sign_min_seconds=0, base_url=live_server.url)
    phone.goto("/c/free-them")
    phone.get_by_label("Your name", exact=True).fill("Ana Example")
    phone.get_by_label("E-mail address", exact=True).fill("ana@example.org")
    phone.get_by_label("Country", exact=True).select_option("MT")
    phone.get_by_label("I have read the privacy notice").check()
    phone.get_by_role("button", name="Sign the letter").click()
    expect(phone.get_by_role("status")).to_contain_text("check your inbox")
    maildir = smtp_server.handler.maildir
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(maildir)) == 1, timeout=20)
        phone.goto(urlsplit(confirmation_link(read_mailbox(maildir)[0].body_text)).path)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        for mep in meps[:2]:
            phone.get_by_label(mep.display_name).uncheck()
        phone.get_by_label("Your own words in the letter").fill("Malta must speak up.")
        phone.get_by_role("button", name="Confirm my signature and send my letters").click()
        expect(phone.get_by_role("status")).to_contain_text("letters to 4 MEPs are on their way")
        wait_for(lambda: len(read_mailbox(maildir)) == 5, timeout=30)
    letters = [m for m in read_mailbox(maildir) if "confirm" not in m.subject]
    assert sorted(m.envelope_to[0] for m in letters) == sorted(m.email or "" for m in meps[2:])
    assert all("Malta must speak up." in m.body_text for m in letters)
