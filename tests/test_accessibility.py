"""Every page of the console and every public page, in a real browser, against WCAG 2 A/AA.

The pages are found by walking the app's URL map (GET endpoints, less files and JSON: see
tests/a11y.py), with the URL parameters filled from data seeded once for the module: the bundled
directory, a saved audience, a draft campaign with a French version, a drive sent to the Maltese
MEPs by a real worker through the real SMTP capture server, and a campaign with a public page, a
pending and a confirmed signature. A page nobody seeded a sample for fails the first test.

Each page is loaded in Debian's Chromium, then the vendored axe-core (from the npm registry) runs
in it with the WCAG 2.0/2.1/2.2 A and AA rules: any violation of any impact fails. The same visit
fails on an answer other than 200, a console error, an uncaught exception, a failed request or an
error answer for anything the page loads, and on sideways scrolling at a 390 px wide viewport.
Every problem of every page is listed in one failure message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy import func, select

from contacts.bundled import load_bundled
from contacts.models import Contact, ImportRun, SavedAudience
from outreach import create_app
from outreach.campaigns import services
from outreach.campaigns.letters import set_variant
from outreach.campaigns.models import Campaign, Delivery
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.followups.followup import create_followup
from outreach.followups.mep_question import AnswerTokens
from outreach.mail.identity import MessageIdentity
from outreach.supporters.models import Signature
from outreach.supporters.signing import SignatureInput, confirm, sign
from outreach.supporters.tokens import ConfirmationTokens, WithdrawalTokens
from outreach.tracking.intake import store_inbound
from outreach.tracking.models import MepReplyQuestion
from tests.a11y import PageUrl, PageWatch, check_page, page_urls
from tests.browser import TIMEOUT_MS, LiveServer, sign_in
from tests.conftest import _empty_all_tables, launch_campaign, running_worker, wait_for
from tests.test_admin_access import PUBLIC_ENDPOINTS

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
ADMIN = ("a11y@example.org", "correct horse battery")
# Public pages left out of the check, with why (none: the API reference is our own page now).
NOT_CHECKED: dict[str, str] = {}


@dataclass
class Site:
    app: Flask
    server: LiveServer
    values: dict[str, list[Any]] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


REPLY = (
    b"From: Roberta Example <roberta@europarl.example.eu>\r\nTo: replies@outreach.example.org\r\n"
    b"Subject: Re: Human rights\r\nMessage-ID: <reply-a11y@europarl.example.eu>\r\n"
    b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\nThank you for your letter.\r\n"
)


def _account_link_tokens(session: Any) -> dict[str, str]:
    """An invitation and a reset link whose tokens the test knows (the worker makes them when it
    mails the links; only their hashes are stored, as here)."""
    from outreach.accounts.models import AccountLink, LinkPurpose, User
    from outreach.accounts.services import invite_user, new_token, request_reset

    admin = session.scalar(select(User).where(User.email == ADMIN[0]))
    _user, invitation = invite_user(
        session, "new.colleague@example.org", "viewer", by=admin, valid=timedelta(days=7)
    )
    reset = request_reset(session, ADMIN[0], valid=timedelta(hours=2))
    tokens = {}
    for purpose, link in ((LinkPurpose.INVITE, invitation), (LinkPurpose.RESET, reset)):
        assert isinstance(link, AccountLink)
        tokens[purpose.value], link.token_hash = new_token()
    return tokens


def _followup_waiting_for_approval(session: Any, drive_id: int) -> int:
    from outreach.accounts.services import create_user
    from outreach.campaigns.approval import LaunchPlan, request_approval
    from outreach.followups.followup import fingerprint

    colleague = create_user(session, "colleague@example.org", ADMIN[1], "campaigner")
    waiting = create_followup(
        session, drive_id, subject="", body="{{ salutation }}\n\nA second reminder.",
        days=14, min_days=1,
    )  # fmt: skip
    request_approval(session, waiting, colleague, LaunchPlan(6, fingerprint(waiting)))
    return waiting.id


def _seed(app: Flask, smtp: CaptureServer) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """The data every page needs; the values of the URL parameters by name, and per endpoint."""
    from outreach.accounts.services import create_user

    db = get_db()
    with db.transaction() as session:
        create_user(session, ADMIN[0], ADMIN[1], "admin")
        load_bundled(session)
        maltese = list(
            session.scalars(
                select(Contact.id).where(Contact.country_code == "MT", Contact.kind == "mep")
            )
        )
        session.add(SavedAudience(name="Maltese MEPs", filter="country:MT", contact_ids=[]))
        draft = services.create_campaign(
            session,
            name="Press freedom in Malta",
            subject="Press freedom: a letter to {{ recipient.formal_name }}",
            body="{{ salutation }}\n\nWe ask you to support the resolution.\n\nYours sincerely,",
            audience={"filter": "country:MT"},
            signatories=[{"name": "Coast Rights", "url": "https://coast.example.org"}],
        )
        set_variant(
            session, draft, "fr", "Liberté de la presse",
            "{{ salutation }}\n\nNous vous demandons de soutenir la résolution.",
        )  # fmt: skip
        drive = services.create_campaign(
            session, name="Sent drive", subject="Human rights",
            body="{{ salutation }}\n\nPlease act.", audience={"contact_ids": maltese},
        )  # fmt: skip
        public = services.create_campaign(
            session, name="Free the fishermen", subject="Release them",
            body="{{ salutation }}\n\nWe ask you to act.", audience={},
        )  # fmt: skip
        public.slug, public.signing_open, public.signature_goal = "free-them", True, 100
        ids = {"draft": draft.id, "drive": drive.id, "public": public.id}
        # A letter to every MEP: its check page shows the progress of a worker's check.
        every_mep = services.create_campaign(
            session, name="Every MEP", subject="Human rights", body="{{ salutation }}\n\nAct.",
            audience={"filter": "kind:mep"},
        ).id  # fmt: skip
    launch_campaign(app, ids["drive"])
    with running_worker(app):

        def all_sent() -> bool:
            with db.transaction() as s:
                unsent = s.scalar(
                    select(func.count()).where(
                        Delivery.campaign_id == ids["drive"], Delivery.state != "sent"
                    )
                )
                campaign = s.get(Campaign, ids["drive"])
                return unsent == 0 and campaign is not None and campaign.status == "finished"

        wait_for(all_sent, timeout=60)

    settings = app.config["OUTREACH"]
    with db.transaction() as session:
        public_campaign = session.get(Campaign, ids["public"])
        assert public_campaign is not None
        signatures = []
        for n, email in enumerate(["ana@example.org", "jonas@example.org"]):
            typed = SignatureInput(f"Supporter {n}", email, "BE", "Privacy notice", named=True)
            result = sign(session, public_campaign, typed, source=f"seed-{n}", burst=None)
            signatures.append(session.get(Signature, result.signature_id))
        pending, confirmed = signatures
        assert pending is not None
        assert confirmed is not None
        confirm(session, confirmed.id)
        confirm_token = ConfirmationTokens(settings.secret_key).make(pending.id, pending.email)
        withdraw_token = WithdrawalTokens(settings.secret_key).make(confirmed.id, confirmed.email)
        unsubscribe = MessageIdentity.from_settings(settings).unsubscribe_tokens.sign(confirmed.id)
        delivery = session.scalar(
            select(Delivery.id).where(Delivery.campaign_id == ids["drive"]).limit(1)
        )
        run = session.scalar(select(ImportRun.id).limit(1))
        audience = session.scalar(select(SavedAudience.id).limit(1))
        tokens = _account_link_tokens(session)
        followup = create_followup(
            session, ids["drive"], subject="", body="{{ salutation }}\n\nA reminder.",
            days=7, min_days=1,
        ).id  # fmt: skip
        # A second follow-up waiting for a second person's approval (asked by a colleague, so
        # the page shows the approve and withdraw buttons to the admin signed in).
        waiting = _followup_waiting_for_approval(session, ids["drive"])
        reply = store_inbound(session, REPLY, via="smtp")
        question = MepReplyQuestion(delivery_id=delivery, signature_id=confirmed.id)
        session.add(question)
        session.flush()
        answer = AnswerTokens(settings.secret_key).make(question.id, "yes")
    mail = read_mailbox(smtp.handler.maildir)
    assert mail, "the drive's letters did not reach the capture server"
    values: dict[str, list[Any]] = {
        "campaign_id": [ids["draft"], ids["drive"]],
        "contact_id": maltese[:1],
        "delivery_id": [delivery],
        "run_id": [run],
        "audience_id": [audience],
        "slug": ["free-them"],
        "key": [mail[0].key],
    }
    samples = {
        # A letter's versions can be edited while it is a draft; the draft has a French one.
        "admin.variant_edit": [{"campaign_id": ids["draft"], "language": "fr"}],
        "admin.variant_new": [{"campaign_id": ids["draft"]}],
        "admin.campaign_edit": [{"campaign_id": ids["draft"]}],
        "public.confirm_signature": [{"slug": "free-them", "token": confirm_token}],
        "public.withdraw_signature": [{"slug": "free-them", "token": withdraw_token}],
        "unsubscribe.unsubscribe": [{"token": unsubscribe}],
        "auth.accept_invite": [{"token": tokens["invite"]}],
        "auth.reset_password": [{"token": tokens["reset"]}],
        "replies.followup": [{"followup_id": followup}, {"followup_id": waiting}],
        "replies.message": [{"message_id": reply}],
        "mep_reply.answer": [{"token": answer}, {"token": answer, "lang": "fr"}],
        "checks.campaign_check": [{"campaign_id": ids["draft"]}, {"campaign_id": every_mep}],
        # The campaign page of a drive with a public page and signatures.
        "admin.campaign_detail": [{"campaign_id": i} for i in ids.values()],
    }
    return values, samples


@pytest.fixture(scope="module")
def site(
    migrated: str, redis_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The app with every kind of page's data, served over real HTTP for the whole module."""
    folder = tmp_path_factory.mktemp("a11y")
    smtp = CaptureServer(folder / "instance" / "devmail").start()
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    app = create_app(
        {
            "instance_path": str(folder / "instance"),
            "database_url": migrated,
            "redis_url": redis_server_url,
            "smtp_url": smtp.url,
            "mail_from": "Coalition for Rights <letters@example.org>",
            "return_path": "bounces@example.org",
            "reconcile_interval": 0,
            "domain_rates": "",
        }
    )
    app.config["TESTING"] = True
    server: LiveServer | None = None
    try:
        with app.app_context():
            _empty_all_tables(app)
            values, samples = _seed(app, smtp)
        server = LiveServer(app).start()
        yield Site(app, server, values, samples)
    finally:
        if server is not None:
            server.stop()
        smtp.stop()
        with app.app_context():
            get_db().dispose()
    assert not server or not server.errors, f"the app raised while serving: {server.errors!r}"


def _pages(site: Site) -> tuple[list[PageUrl], list[str]]:
    return page_urls(site.app, site.values, site.samples)


def _check_all(browser: Browser, site: Site, pages: list[PageUrl], signed_in: bool) -> list[str]:
    context = browser.new_context(viewport=DESKTOP, base_url=site.server.url)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        if signed_in:
            sign_in(page, site.server.url, *ADMIN)
        watch = PageWatch().attach(page)
        report = []
        for p in pages:
            problems = check_page(page, watch, p.endpoint, p.url, DESKTOP)
            if problems:
                report.append(f"{p.endpoint} {p.url}")
                report += problems
        return report
    finally:
        context.close()


def test_every_get_page_has_a_sample(site: Site) -> None:
    """Every GET endpoint of the URL map is a page this module visits, or is named as not a page
    (tests/a11y.py NOT_PAGES): a new page without seeded URL values fails here by name."""
    pages, missing = _pages(site)
    assert not missing, "\n".join(missing)
    endpoints = {p.endpoint for p in pages}
    assert {
        "admin.dashboard",
        "admin.campaign_detail",
        "public.campaign",
        "auth.login",
    } <= endpoints
    assert len(pages) >= 25


def test_console_pages_pass_axe_and_load_cleanly(browser: Browser, site: Site) -> None:
    """Signed in as an admin, every console page answers 200 with no WCAG 2 A/AA violation
    (axe-core), no console error, no failed request, and no sideways scrolling on a phone."""
    pages, _ = _pages(site)
    console = [p for p in pages if p.endpoint not in PUBLIC_ENDPOINTS]
    assert len(console) >= 20
    report = _check_all(browser, site, console, signed_in=True)
    assert not report, "\n".join(report)


def test_public_pages_pass_axe_and_load_cleanly(browser: Browser, site: Site) -> None:
    """Without signing in, every public page (sign-in, the campaign page and its embed, the
    confirmation, withdrawal and unsubscription pages, the API reference) passes the same
    checks."""
    pages, _ = _pages(site)
    public = [p for p in pages if p.endpoint in PUBLIC_ENDPOINTS and p.endpoint not in NOT_CHECKED]
    assert {p.endpoint for p in public} >= {
        "auth.login", "public.campaign", "public.embed", "public.confirm_signature",
        "public.withdraw_signature", "unsubscribe.unsubscribe", "api_reference.page",
    }  # fmt: skip
    report = _check_all(browser, site, public, signed_in=False)
    assert not report, "\n".join(report)


def test_axe_finds_what_it_is_asked_to_find(browser: Browser, site: Site) -> None:
    """The check can fail: a page with an unlabelled field, low-contrast text and an image
    without alternative text gets those three violations from the vendored axe-core."""
    from tests.a11y import axe_violations

    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        page.set_content(
            '<html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>'
            '<input type="text"><p style="color:#bbb;background:#fff">faint</p>'
            '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
            "</main></body></html>"
        )
        found = {v["id"] for v in axe_violations(page)}
    finally:
        context.close()
    assert {"label", "color-contrast", "image-alt"} <= found, found
