"""The whole drive in the browser, as staff run it: from signing in to the first reply.

Real parts only: Debian's Chromium driven by Playwright, the app over real HTTP, the migrated
database, Redis, a real dramatiq Worker, and the aiosmtpd capture server, which receives the
letters and, for the service's own reply addresses, hands mail to the inbound pipeline (as
`devmail --inbound` does in `make run`). Selectors are roles and labels, so restyling the console
does not break the walk. A screenshot of each step is saved as test-artifacts/walk/NN-step.png.
"""

from __future__ import annotations

import re
import smtplib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from contacts.models import Contact
from outreach.campaigns.models import Campaign, Delivery
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.tracking.intake import intake_for_app
from outreach.tracking.models import InboundMessage
from tests.browser import LiveServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "walk"
MEPS_CSV = ROOT / "contacts" / "data" / "meps_term10.csv"
AUDIENCE = "country:MT or country:LU"
SUBJECT_EN = "Press freedom: a letter to {{ recipient.formal_name }}"
BODY_EN = (
    "{{ salutation }}\n\nWe ask you to support the resolution on press freedom.\n\nYours sincerely,"
)
SUBJECT_FR = "Liberté de la presse : une lettre à {{ recipient.formal_name }}"
BODY_FR = "{{ salutation }}\n\nNous vous demandons de soutenir la résolution.\n\nCordialement,"
DRIVE_SECONDS = 60_000  # ms: the worker sends 12 letters in a few seconds; the bound is generous


class Steps:
    """Numbered full-page screenshots of the walk."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.n = 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(SHOTS / f"{self.n:02d}-{name}.png"), full_page=True)


def _id_in(url: str) -> int:
    return int(urlsplit(url).path.rstrip("/").rsplit("/", 1)[1])


def test_a_whole_drive_from_sign_in_to_the_first_reply(
    page: Page,
    live_server: LiveServer,
    admin: tuple[str, str],
    app: Flask,
    smtp_server: CaptureServer,
    worker: object,
) -> None:
    """Sign in; import the bundled MEPs from their CSV through the import page (review, then
    apply: the directory holds them); save an audience (Malta and Luxembourg); write a letter in
    English and add its French version; check every copy (12 copies, both languages); send a test
    to oneself (the SMTP server receives it, marked [TEST]); launch from the check page; watch
    the campaign page reach 100% while the worker sends (the SMTP server receives one letter per
    official, in French for the Luxembourg MEPs who read it); reply to one letter's Reply-To
    address; the campaign page then lists that letter as replied and its history says so."""
    email, password = admin
    steps = Steps(page)
    smtp_server.handler.inbound = intake_for_app(app)  # mail to our reply addresses goes inbound

    # 1. Sign in.
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    steps.shot("sign-in")
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    steps.shot("dashboard-empty")

    # 2. Import the bundled MEPs through the console: upload, review, apply.
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Directory").click()
    page.get_by_role("link", name="Import a file").click()
    page.get_by_label("File").set_input_files(str(MEPS_CSV))
    page.get_by_role("button", name="Upload and review").click()
    apply = page.get_by_role("button", name=re.compile(r"^Apply: \d+ new"))
    expect(apply).to_be_visible()
    steps.shot("import-review")
    apply.click()
    expect(page.get_by_role("status")).to_contain_text(f"Imported {MEPS_CSV.name}:")
    steps.shot("import-applied")
    with app.app_context():
        meps = get_db().session.scalar(select(func.count()).select_from(Contact))
        audience_ids = set(
            get_db().session.scalars(
                select(Contact.id).where(Contact.country_code.in_(["MT", "LU"]))
            )
        )
    assert meps is not None
    assert meps > 700, meps
    assert len(audience_ids) == 12

    # 3. A saved audience.
    nav.get_by_role("link", name="Audiences").click()
    page.get_by_role("link", name=re.compile("New audience")).click()
    page.get_by_label("Name", exact=True).fill("Malta and Luxembourg")
    page.get_by_label("Filter", exact=True).fill(AUDIENCE)
    page.get_by_role("button", name="Save audience").click()
    expect(page.get_by_role("status")).to_be_visible()
    steps.shot("audience-saved")

    # 4. The letter in English, then its French version.
    nav.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill("Press freedom drive")
    page.get_by_label("Subject", exact=True).fill(SUBJECT_EN)
    page.get_by_label("Letter", exact=True).fill(BODY_EN)
    page.get_by_label("Audience", exact=True).fill('list:"Malta and Luxembourg"')
    # The live count follows what was typed (12 officials), not the whole directory.
    expect(page.locator("#audience-live")).to_contain_text("12 officials will receive the letter")
    steps.shot("letter-written")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("saved as a draft")
    campaign_id = _id_in(page.url)
    page.get_by_role("link", name="Add a language").click()
    page.get_by_label("Language", exact=True).fill("fr")
    page.get_by_label("Subject", exact=True).fill(SUBJECT_FR)
    page.get_by_label("Letter", exact=True).fill(BODY_FR)
    page.get_by_role("button", name="Add this language").click()
    expect(page.get_by_role("status")).to_contain_text("The French version is saved.")
    languages = page.locator("#languages")
    expect(languages).to_contain_text("French (fr)")
    steps.shot("two-languages")

    # 5. Check every copy.
    page.get_by_role("link", name="Check every copy").first.click()
    expect(page.get_by_role("heading", name="Check every copy")).to_be_visible()
    expect(page.get_by_text("copies rendered")).to_be_visible()
    assert page.locator(".stat", has_text="copies rendered").locator("b").inner_text() == "12"
    expect(page.locator(".stat", has_text="in fr")).to_be_visible()
    expect(page.locator(".stat", has_text="in en")).to_be_visible()
    steps.shot("check")

    # 6. A test to oneself.
    page.get_by_role("link", name="Press freedom drive").click()
    # The workspace's test-send button names whose copy it sends ("Send X's copy to me").
    page.get_by_role("button", name=re.compile(r"^Send .*copy to me$")).first.click()
    expect(page.get_by_role("status")).to_contain_text(f"Test sent to {email}")
    steps.shot("test-sent")
    tests = read_mailbox(smtp_server.handler.maildir)
    assert [m.envelope_to for m in tests] == [[email]]
    assert str(tests[0].message["Subject"]).startswith("[TEST]")

    # 7. Launch from the check page (confirming its warnings, if it shows any).
    page.get_by_role("link", name="Check every copy").first.click()
    warnings = page.get_by_label(re.compile("I have read the"))
    if warnings.count():
        warnings.check()
    page.get_by_role("button", name="Launch to 12 officials").click()
    expect(page.get_by_role("status")).to_contain_text("Launched: 12 letters queued for sending.")
    steps.shot("launched")

    # 8. The page follows the drive by itself (progress.js) until it is done.
    expect(page.get_by_text(re.compile(r"100% done \(12 of 12\)"))).to_be_visible(
        timeout=DRIVE_SECONDS
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("finished")
    steps.shot("progress-100")
    letters = [m for m in read_mailbox(smtp_server.handler.maildir) if m.envelope_to != [email]]
    with app.app_context():
        session = get_db().session
        rows = list(session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)))
        luxembourg = {
            c.email for c in session.scalars(select(Contact).where(Contact.country_code == "LU"))
        }
    assert {d.contact_id for d in rows} == audience_ids
    assert sorted(m.envelope_to[0] for m in letters) == sorted(d.email for d in rows)
    french = {m.envelope_to[0] for m in letters if m.message["Content-Language"] == "fr"}
    assert french
    assert french <= luxembourg

    # 9. An official answers: the reply goes to the letter's Reply-To address.
    answered = letters[0]
    reply_to = str(answered.message["Reply-To"])
    official = answered.envelope_to[0]
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as client:
        client.sendmail(
            official,
            [reply_to],
            (
                f"From: <{official}>\r\nTo: <{reply_to}>\r\nMessage-ID: <walk-reply@ep.example>\r\n"
                f"In-Reply-To: {answered.message['Message-ID']}\r\n"
                "Subject: RE: Press freedom\r\n\r\nThank you, I will support the resolution.\r\n"
            ).encode(),
        )
    page.get_by_label("State").select_option("replied")  # the list filters on change
    page.wait_for_url(re.compile(r"state=replied"))
    row = page.get_by_role("row", name=re.compile(re.escape(official)))

    def shows_replied() -> bool:
        page.reload()
        return row.count() == 1 and "replied" in row.inner_text()

    _wait(shows_replied)
    steps.shot("reply-listed")
    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("replied")
    history = page.get_by_role("row", name=re.compile(r"\breplied\b"))
    expect(history).to_contain_text("inbound")
    steps.shot("reply-history")
    with app.app_context():
        session = get_db().session
        inbound = session.scalar(select(InboundMessage).where(InboundMessage.kind == "reply"))
        status = session.get(Campaign, campaign_id).status  # type: ignore[union-attr]
    assert inbound is not None
    assert "support the resolution" in (inbound.reply_text or "")
    assert status == "finished"


def _wait(predicate: object, timeout: float = 60.0) -> None:
    from tests.conftest import wait_for

    wait_for(predicate, timeout=timeout, interval=0.5)  # type: ignore[arg-type]
