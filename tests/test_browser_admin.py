"""The admin console in a real browser: Chromium drives the app served over real HTTP.

Real parts only: werkzeug's HTTP server on 127.0.0.1, the migrated database, Redis, a dramatiq
Worker running the app's actors, and the aiosmtpd server the letters are sent to. The tests click
what staff click (the JS confirm() of the launch button included) and then check what crossed the
boundaries: rows in the database and messages the SMTP server received.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from contacts.address import salutation
from contacts.audience import Audience
from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db, get_settings
from outreach.mail.identity import MessageIdentity
from tests.browser import LiveServer, shoot, sign_in
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

SUBJECT = "Malta and the rule of law: a letter to {{ recipient.formal_name }}"
BODY = """{{ salutation }}

We write to you as a Member of the European Parliament for {{ recipient.country }}.

We ask you to support the resolution on press freedom.

Yours sincerely,
The coalition
"""
MISSPELT = "{{ salutation }}\n\nWe thank {{ recipent.name }} for the meeting.\n"


def _path(page: Page) -> str:
    return urlsplit(page.url).path


# --- 1. signing in -------------------------------------------------------------------------------
def test_sign_in_gate_wrong_password_then_dashboard(
    page: Page, live_server: LiveServer, admin: tuple[str, str]
) -> None:
    """An anonymous visit to / lands on the sign-in page; a wrong password is refused with an
    error and no session; the right one reaches the dashboard as the signed-in admin."""
    email, password = admin
    page.goto("/")
    assert _path(page) == "/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator(".flash")).to_contain_text("Please sign in to see this page.")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    shoot(page, "login-gate")

    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("wrong horse battery")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Sign in", exact=True).click()
    assert posted.value.status == 400
    expect(page.locator("p.errors")).to_have_text("Unknown e-mail address or wrong password.")
    assert _path(page) == "/login"
    shoot(page, "login-error")
    page.goto("/")  # still not signed in
    assert _path(page) == "/login"

    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{live_server.url}/")  # the ?next=/ of the gate brings us back to /
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    expect(page.locator("header.top")).to_contain_text(f"{email} (admin)")
    expect(page.get_by_role("link", name="Dev mailbox")).to_be_visible()
    shoot(page, "login-dashboard-empty")


# --- 2. the whole drive --------------------------------------------------------------------------
def test_campaign_from_form_to_smtp_server(
    page: Page,
    live_server: LiveServer,
    admin: tuple[str, str],
    app: Flask,
    smtp_server: CaptureServer,
    worker: object,
) -> None:
    """A campaign written in the form to the Maltese MEPs shows the audience the database holds and
    a preview for the first of them; launched through the confirm() dialog, it is sent by the
    worker, the page shows every delivery `sent` with its history, and the SMTP server received
    exactly one message per Maltese MEP address."""
    with app.app_context():
        with get_db().transaction() as session:
            load_bundled(session)
        with get_db().transaction() as session:
            maltese = list(
                session.scalars(Audience.from_dict({"countries": ["MT"]}).query(session))
            )
            maltese_meps = session.scalar(
                select(func.count()).where(Contact.country_code == "MT", Contact.kind == "mep")
            )
        settings = get_settings()
    assert maltese_meps == 6
    assert len(maltese) == 6, [c.display_name for c in maltese]
    addresses = {c.email for c in maltese}
    assert len(addresses) == 6
    first = maltese[0]  # the audience is ordered by id: the page previews this one

    sign_in(page, live_server.url, *admin)

    # Write the campaign in the form.
    page.get_by_role("link", name="New campaign").click()
    assert _path(page) == "/campaigns/new"
    page.get_by_label("Name", exact=True).fill("Malta letter")
    page.get_by_label("Subject", exact=True).fill(SUBJECT)
    page.get_by_label("Letter", exact=True).fill(BODY)
    page.get_by_label("Audience", exact=True).fill("country:MT")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/campaigns/*")
    campaign_id = int(_path(page).rsplit("/", 1)[1])
    expect(page.locator(".flash.success")).to_have_text("Campaign “Malta letter” saved as a draft.")

    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.name, campaign.status) == ("Malta letter", "draft")
        assert campaign.audience == {"filter": "country:MT"}
        assert campaign.body_template.replace("\r\n", "\n") == BODY

    # The draft page: audience count, preview of the first recipient.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Malta letter")
    expect(page.locator(".stat").first).to_contain_text("in the audience")
    assert page.locator(".stat b").first.inner_text() == "6"
    expect(page.locator(".card", has_text="Audience:")).to_contain_text("country:MT")
    expect(page.get_by_role("heading", name=f"Preview for {first.display_name}")).to_be_visible()
    preview = page.locator("pre.letter").first.inner_text()
    assert preview.startswith(salutation(first) + "\n"), preview
    assert "Member of the European Parliament for Malta.\n" in preview, preview
    assert "{{" not in preview
    launch = page.get_by_role("link", name="Launch to 6 officials")
    expect(launch).to_be_visible()
    shoot(page, "campaign-draft")

    # Launch: the confirmation page states the count; its button sends them.
    launch.click()
    page.get_by_role("button", name="Send 6 letters now").click()
    expect(page.locator(".flash.success")).to_have_text("Launched: 6 letters queued for sending.")

    # The worker sends; reload until the page shows all six deliveries sent (bounded).
    state_cells = page.locator("table tbody tr td:nth-child(4)")

    def page_shows_all_sent_and_finished() -> bool:
        # The campaign is marked finished in the worker's own transaction right after the last
        # delivery's, so a reload can fall between the two: wait for both.
        page.reload()
        states = state_cells.all_inner_texts()
        finished = page.locator("h1 .badge").inner_text().strip() == "finished"
        return len(states) == 6 and set(states) == {"sent"} and finished

    wait_for(page_shows_all_sent_and_finished, timeout=30, interval=0.25)
    expect(page.locator("h1 .badge")).to_have_text("finished")
    shown_addresses = set(page.locator("table tbody tr td:nth-child(3)").all_inner_texts())
    assert shown_addresses == addresses
    shoot(page, "campaign-sent")

    with app.app_context(), get_db().transaction() as session:
        deliveries = list(
            session.scalars(
                select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
            )
        )
        status = session.get(Campaign, campaign_id).status  # type: ignore[union-attr]
    assert status == "finished"
    assert {d.email for d in deliveries} == addresses
    assert {d.state for d in deliveries} == {"sent"}

    # One delivery's history page.
    d0 = deliveries[0]
    page.get_by_role("link", name=str(d0.id), exact=True).click()
    assert _path(page) == f"/deliveries/{d0.id}"
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Letter to {first.display_name}")
    expect(page.locator("h1 .badge")).to_have_text("sent")
    expect(page.locator(".card")).to_contain_text(d0.message_id or "no message id")
    shown_history = page.locator("table tbody tr td:nth-child(3)").all_inner_texts()
    assert shown_history == ["queued", "sending", "sent"]
    with app.app_context(), get_db().transaction() as session:
        history = list(
            session.scalars(
                select(DeliveryEvent.to_state)
                .where(DeliveryEvent.delivery_id == d0.id)
                .order_by(DeliveryEvent.id)
            )
        )
    assert history == ["queued", "sending", "sent"]
    shoot(page, "delivery")

    # What crossed the SMTP boundary: one personalised message per Maltese MEP, our Message-IDs.
    captured = read_mailbox(smtp_server.handler.maildir)
    assert len(captured) == 6
    assert all(len(m.envelope_to) == 1 for m in captured)
    by_address = {m.envelope_to[0]: m for m in captured}
    assert set(by_address) == addresses
    contacts_by_email = {c.email: c for c in maltese}
    for d in deliveries:
        message = by_address[d.email]
        assert message.message["Message-ID"] == d.message_id
        assert message.body_text.startswith(salutation(contacts_by_email[d.email]) + "\n")
        # The envelope sender is the bounce address with this delivery's signed token (VERP).
        assert (
            MessageIdentity.from_settings(settings).delivery_for_bounce(message.envelope_from)
            == d.id
        )

    # /dev/mailbox reads settings.devmail_path; it shows these messages only if the SMTP server of
    # the test writes there (conftest's smtp_server decides where it writes).
    page.get_by_role("link", name="Dev mailbox").click()
    assert _path(page) == "/dev/mailbox"
    rows = page.locator("table tbody tr")
    if Path(smtp_server.handler.maildir).resolve() == settings.devmail_path:
        expect(rows).to_have_count(6)
        assert set(page.locator("table tbody tr td:nth-child(2)").all_inner_texts()) == addresses
        shoot(page, "mailbox")
        rows.first.get_by_role("link").click()
        assert _path(page).startswith("/dev/mailbox/")
        expect(page.locator("pre.letter")).to_contain_text("Yours sincerely,")
    else:
        expect(rows).to_have_text(["No message captured yet."])

    # The dashboard after the drive.
    page.get_by_role("link", name="Campaigns").click()
    row = page.locator("table tbody tr", has_text="Malta letter")
    expect(row.locator(".badge")).to_have_text("finished")
    assert row.locator("td").all_inner_texts()[3:6] == ["6", "6", "0"]  # letters, sent, failed
    shoot(page, "dashboard")


# --- 3. a misspelt placeholder -------------------------------------------------------------------
def test_unknown_placeholder_is_refused_with_its_line_and_nothing_saved(
    page: Page, live_server: LiveServer, admin: tuple[str, str], app: Flask
) -> None:
    """A letter with {{ recipent.name }} on its third line is refused by the form with an error
    naming the body's line 3; the form keeps what was typed and no campaign is saved."""
    sign_in(page, live_server.url, *admin)
    page.goto("/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Misspelt")
    page.get_by_label("Subject", exact=True).fill("Hello")
    page.get_by_label("Letter", exact=True).fill(MISSPELT)
    page.get_by_label("Audience", exact=True).fill("country:MT")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save draft").click()
    assert posted.value.status == 400
    assert _path(page) == "/campaigns/new"
    error = page.get_by_role("alert")
    expect(error).to_contain_text("body, line 3: 'recipent' is not defined")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Misspelt")
    expect(page.get_by_label("Letter", exact=True)).to_have_value(MISSPELT)
    shoot(page, "form-error")

    with app.app_context(), get_db().transaction() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
