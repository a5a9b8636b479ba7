"""The dashboard in a real browser while a real worker sends a drive: its figures move without
the page being reloaded, and it reloads once when the drive finishes."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from outreach.devmail import CaptureServer, read_mailbox
from tests.browser import LiveServer, shoot, sign_in
from tests.conftest import draft_campaign, launch_campaign, running_worker

pytestmark = pytest.mark.browser


def test_the_dashboard_follows_a_drive_live(
    page: Page,
    live_server: LiveServer,
    admin: tuple[str, str],
    app: Flask,
    smtp_server: CaptureServer,
) -> None:
    """Six letters to the Maltese MEPs, launched and waiting; the SMTP server answers each after
    1.5 s, so the drive lasts several of the dashboard's polls. Once a worker starts, the card's
    sent count and its line (the rate and the estimated finish) change in place, in the same page
    (a marker set in it survives); when the last letter is sent the page reloads once and lists
    the drive as finished; the SMTP server received the six letters; the console stayed clean."""
    errors: list[str] = []
    # The app has no favicon (a 404 any page of it gets): every other console error counts.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    campaign_id = draft_campaign(app, {"countries": ["MT"]}, name="Malta, live")
    launch_campaign(app, campaign_id)  # six letters queued, their job waiting in Redis
    smtp_server.handler.set_fault("slow", delay=1.5)

    sign_in(page, live_server.url, *admin)
    card = page.locator(f'[data-drive="{campaign_id}"]')
    expect(card.locator('[data-field="sent"]')).to_have_text("0")
    expect(card.locator('[data-field="total"]')).to_have_text("6")
    expect(card.locator('[data-field="line"]')).to_contain_text("waiting for the first letters")
    page.evaluate("window.__sameDocument = true")

    with running_worker(app, threads=1):
        expect(card.locator('[data-field="sent"]')).not_to_have_text("0", timeout=20_000)
        line = card.locator('[data-field="line"]').inner_text()
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        sent = int(card.locator('[data-field="sent"]').inner_text())
        assert 1 <= sent < 6
        assert "letters a minute over the last 10 minutes" in line
        assert "estimated finish" in line, line
        bar = card.locator(".progress span.sent")
        assert float(bar.evaluate("e => parseFloat(e.style.width)")) > 0
        shoot(page, "dashboard-live")

        # The drive finishes: the page reloads and the drive is in the table, finished.
        expect(page.locator(f'[data-drive="{campaign_id}"]')).to_have_count(0, timeout=30_000)
    expect(page.get_by_text("No drive is sending.")).to_be_visible()
    row = page.locator("table.campaigns tbody tr", has_text="Malta, live")
    expect(row.locator(".badge")).to_have_text("finished")
    assert row.locator("td").all_inner_texts()[3:6] == ["6", "6", "0"]
    shoot(page, "dashboard-finished")
    assert len(read_mailbox(smtp_server.handler.maildir)) == 6
    assert errors == []
