"""The console side of letters: languages, signatories, the preview of one copy, and test sends.

Everything goes through the admin forms with their CSRF tokens, against the migrated database and
the bundled directory; test sends cross the real SMTP boundary (the aiosmtpd capture server), and
the tests read what that server received.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from contacts.audience import Audience
from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.letters import set_variant
from outreach.campaigns.models import Campaign, Delivery, LetterVariant
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.letters.render import CONTEXT_DOC, FILTERS_DOC
from tests.browser import LiveServer, shoot, sign_in
from tests.conftest import count_rows, csrf_token_from

STAFF = "admin@example.org"  # the address `login("admin")` signs in with
SUBJECT_EN = "Press freedom: a letter to {{ recipient.formal_name }}"
BODY_EN = """{{ salutation }}

We write to you, **{{ recipient.display_name }}**, about press freedom.

1. Support the resolution.
2. Meet the journalists.

> Freedom of the press is not a privilege.

{% for s in signatories %}[{{ s.name }}]({{ s.url }})
{% endfor %}"""
SUBJECT_DE = "Pressefreiheit: ein Brief an {{ recipient.formal_name }}"
BODY_DE = """{{ salutation }}

Wir schreiben Ihnen, **{{ recipient.display_name }}**, zur Pressefreiheit.

{% for s in signatories %}[{{ s.name }}]({{ s.url }})
{% endfor %}"""
SIGNATORIES = "Human Rights Coalition | https://hrc.example.org\nPress Freedom Network"
HOSTILE = '"><script>alert(1)</script>'


@dataclass(frozen=True)
class LetterCampaign:
    client: FlaskClient
    campaign_id: int
    german: Contact  # an MEP who reads de
    spanish: Contact  # an MEP who reads es (the letter has no es version)


def _first(app: Flask, country: str) -> Contact:
    with app.app_context():
        session = get_db().session
        contact = session.scalars(
            select(Contact)
            .where(Contact.country_code == country, Contact.kind == "mep")
            .order_by(Contact.id)
        ).first()
        assert contact is not None
        session.expunge(contact)
        return contact


def _post_form(client: FlaskClient, url: str, data: dict[str, str]) -> tuple[int, str, str]:
    """GET the form for its CSRF token, POST it; (status, Location, page)."""
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    resp = client.post(url, data={"csrf_token": token, **data})
    return resp.status_code, resp.headers.get("Location", ""), resp.get_data(as_text=True)


def _post_button(client: FlaskClient, page_url: str, url: str, data: dict[str, str]) -> str:
    """Click a POST button of `page_url` (its CSRF token) and follow the redirect; the page."""
    token = csrf_token_from(client.get(page_url).get_data(as_text=True))
    resp = client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


@pytest.fixture
def letters(app: Flask, login: Callable[..., FlaskClient]) -> LetterCampaign:
    """A campaign made through the forms: English letter with signatories, to the German and
    Spanish MEPs, plus a German version added on its page."""
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
    client = login("admin")
    status, location, page = _post_form(
        client,
        "/campaigns/new",
        {
            "name": "Press freedom",
            "subject": SUBJECT_EN,
            "language": "en",
            "body": BODY_EN,
            "signatories": SIGNATORIES,
            "audience": "kind:mep and country:DE,ES",
        },
    )
    assert status == 302, page
    campaign_id = int(location.rsplit("/", 1)[1])
    status, location, page = _post_form(
        client,
        f"/campaigns/{campaign_id}/languages/new",
        {"language": "de", "subject": SUBJECT_DE, "body": BODY_DE},
    )
    assert status == 302, page
    assert location.startswith(f"/campaigns/{campaign_id}")
    return LetterCampaign(client, campaign_id, _first(app, "DE"), _first(app, "ES"))


class _Tags(HTMLParser):
    """Every start tag of a document with its attributes (entities already decoded)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def _bare_sandbox(iframe: dict[str, str | None]) -> bool:
    """`sandbox` present with no token: no scripts, no same origin, no forms, no popups."""
    return "sandbox" in iframe and not (iframe["sandbox"] or "").strip()


def _headers(page: str) -> dict[str, str]:
    """The From/To/Subject/Content-Language list of a preview (dt → dd text)."""
    out: dict[str, str] = {}

    class Parser(HTMLParser):
        inside: str | None = None
        key: str | None = None
        in_headers = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "dl" and ("class", "headers") in attrs:
                self.in_headers = True
            elif self.in_headers and tag in {"dt", "dd"}:
                self.inside = tag

        def handle_endtag(self, tag: str) -> None:
            if tag == "dl":
                self.in_headers = False
            self.inside = None

        def handle_data(self, data: str) -> None:
            if self.inside == "dt":
                self.key = data.strip()
            elif self.inside == "dd" and self.key:
                out[self.key] = out.get(self.key, "") + data

    Parser(convert_charrefs=True).feed(page)
    return {k: " ".join(v.split()) for k, v in out.items()}


# --- the campaign form ----------------------------------------------------------------------------
def test_the_campaign_form_saves_the_language_and_signatories_and_a_german_version_is_added(
    letters: LetterCampaign, app: Flask
) -> None:
    """Through the forms: the campaign keeps its default language and its signatories as parsed
    rows, the German version is a LetterVariant, and the campaign page lists the languages with
    the default first and the signatories with their links."""
    with app.app_context():
        campaign = get_db().session.get(Campaign, letters.campaign_id)
        assert campaign is not None
        assert campaign.default_language == "en"
        assert campaign.signatories == [
            {"name": "Human Rights Coalition", "url": "https://hrc.example.org"},
            {"name": "Press Freedom Network", "url": ""},
        ]
        assert [(v.language, v.subject_template) for v in campaign.variants] == [("de", SUBJECT_DE)]
        assert list(campaign.letter_sources()) == ["en", "de"]

    page = letters.client.get(f"/campaigns/{letters.campaign_id}").get_data(as_text=True)
    tabs = page.split('id="languages"')[1].split("</nav>")[0]  # the language tabs of the letter
    languages = [a["data-language"] for a in _Tags(tabs).all("a") if "data-language" in a]
    assert languages == ["en", "de"]
    assert 'English (en) <span class="badge">default</span>' in page
    assert '<a href="https://hrc.example.org" rel="noopener noreferrer">' in page
    assert "Press Freedom Network" in page


def test_the_body_hint_lists_every_placeholder_and_filter_and_says_it_is_markdown(
    login: Callable[..., FlaskClient],
) -> None:
    """The hint under the letter is generated from CONTEXT_DOC and FILTERS_DOC: every placeholder
    and filter the renderer knows is listed with its description, and it says the body is
    Markdown; the language select offers the eight usual languages."""
    page = login("campaigner").get("/campaigns/new").get_data(as_text=True)
    for name in CONTEXT_DOC:
        assert f"<code>{{{{ {name} }}}}</code>" in page, name
    for name in FILTERS_DOC:
        assert f"<code>|{name}</code>" in page, name
    assert "cosigners.count|number" in page  # a description, taken from FILTERS_DOC
    assert "<b>Markdown</b>" in page
    options = [
        a["value"]
        for a in _Tags(page.split('id="language"')[1].split("</select>")[0]).all("option")
    ]
    assert options == ["en", "fr", "de", "es", "it", "nl", "pl", "pt"]


def test_a_bad_signatory_line_is_shown_on_the_field_and_nothing_is_saved(
    login: Callable[..., FlaskClient], app: Flask
) -> None:
    """A signatory whose link is not http(s) is refused on the signatories field, naming its
    line, with status 400; no campaign is created."""
    client = login("campaigner")
    status, _, page = _post_form(
        client,
        "/campaigns/new",
        {
            "name": "Bad links",
            "subject": "Hi",
            "language": "en",
            "body": "{{ salutation }}",
            "signatories": "Coalition | https://ok.example.org\nOther | javascript:alert(1)",
        },
    )
    assert status == 400
    assert "signatories, line 2: &#39;javascript:alert(1)&#39; is not an http(s) address" in page
    assert count_rows(app, Campaign) == 0


def test_editing_keeps_the_signatories_and_making_german_the_default_replaces_that_version(
    letters: LetterCampaign, app: Flask
) -> None:
    """The edit form shows the signatories one per line; saving it with German as the letter's
    language makes the (edited) letter the German one and removes the old German version."""
    url = f"/campaigns/{letters.campaign_id}/edit"
    page = letters.client.get(url).get_data(as_text=True)
    assert (
        "Human Rights Coalition | https://hrc.example.org\nPress Freedom Network</textarea>" in page
    )
    status, _, page = _post_form(
        letters.client,
        url,
        {
            "name": "Press freedom",
            "subject": SUBJECT_DE,
            "language": "de",
            "body": BODY_DE,
            "signatories": SIGNATORIES,
            "audience": "kind:mep and country:DE,ES",
        },
    )
    assert status == 302, page
    with app.app_context():
        campaign = get_db().session.get(Campaign, letters.campaign_id)
        assert campaign is not None
        assert (campaign.default_language, campaign.subject_template) == ("de", SUBJECT_DE)
        assert campaign.variants == []


# --- language versions ------------------------------------------------------------------------------
def test_a_version_with_a_template_error_is_refused_with_its_line_and_not_saved(
    letters: LetterCampaign, app: Flask
) -> None:
    """A French version whose body misspells a placeholder on line 3 comes back with status 400,
    the error on the body field naming the line, and no French row."""
    status, _, page = _post_form(
        letters.client,
        f"/campaigns/{letters.campaign_id}/languages/new",
        {"language": "fr", "subject": "Liberté", "body": "{{ salutation }}\n\n{{ recipent.name }}"},
    )
    assert status == 400
    assert '<p class="errors">body (fr), line 3: &#39;recipent&#39; is not defined' in page
    with app.app_context():
        rows = get_db().session.scalars(select(LetterVariant.language)).all()
    assert rows == ["de"]


def test_editing_a_version_with_a_syntax_error_keeps_the_saved_text(
    letters: LetterCampaign, app: Flask
) -> None:
    """Editing the German version with an unclosed tag on line 2 is refused (400, the line
    shown); the German version keeps its saved subject and body."""
    status, _, page = _post_form(
        letters.client,
        f"/campaigns/{letters.campaign_id}/languages/de",
        {"subject": "Neu", "body": "{{ salutation }}\n{% if %}"},
    )
    assert status == 400
    assert "body (de), line 2:" in page
    with app.app_context():
        variant = get_db().session.scalars(select(LetterVariant)).one()
        assert (variant.subject_template, variant.body_template) == (SUBJECT_DE, BODY_DE)


def test_the_default_language_or_a_bad_code_cannot_be_added_as_a_version(
    letters: LetterCampaign, app: Flask
) -> None:
    """ "en" (the letter's own language) and "german" (not a code) are refused on the language
    field with status 400, and the German version is not replaced by adding "de" again."""
    url = f"/campaigns/{letters.campaign_id}/languages/new"
    status, _, page = _post_form(
        letters.client, url, {"language": "en", "subject": "Hi", "body": "{{ salutation }}"}
    )
    assert status == 400
    assert "en is the campaign&#39;s default language: edit the letter itself" in page
    status, _, page = _post_form(
        letters.client, url, {"language": "german", "subject": "Hi", "body": "{{ salutation }}"}
    )
    assert status == 400
    assert "&#39;german&#39; is not a language code" in page
    status, _, page = _post_form(
        letters.client, url, {"language": "de", "subject": "Hi", "body": "{{ salutation }}"}
    )
    assert status == 400
    assert "the letter already has a German version: edit that one" in page
    with app.app_context():
        rows = get_db().session.scalars(select(LetterVariant)).all()
        assert [(v.language, v.subject_template) for v in rows] == [("de", SUBJECT_DE)]


def test_removing_a_version_sends_its_readers_the_default_letter(
    letters: LetterCampaign, app: Flask
) -> None:
    """The Remove button deletes the German version; the German MEP's preview is then the
    English letter, marked as a fallback."""
    page = _post_button(
        letters.client,
        f"/campaigns/{letters.campaign_id}/languages/de",  # the German tab offers the button
        f"/campaigns/{letters.campaign_id}/languages/de/remove",
        {},
    )
    assert "The German version was removed." in page
    assert count_rows(app, LetterVariant) == 0
    preview = letters.client.get(
        f"/campaigns/{letters.campaign_id}/preview/{letters.german.id}"
    ).get_data(as_text=True)
    assert "In English: this official reads de, which the letter does not have." in preview


# --- the preview ------------------------------------------------------------------------------------
def test_a_german_speaking_mep_is_shown_the_german_version(letters: LetterCampaign) -> None:
    """The preview for an MEP who reads German shows the German version (no fallback), the
    headers with Content-Language de, and links to the other languages."""
    url = f"/campaigns/{letters.campaign_id}/preview/{letters.german.id}"
    page = letters.client.get(url).get_data(as_text=True)
    assert "In German: this official reads de." in page
    assert "badge fallback" not in page
    headers = _headers(page)
    assert headers["Content-Language"] == "de"
    assert headers["Subject"].startswith("Pressefreiheit: ein Brief an ")
    assert headers["To"] == f"{letters.german.display_name} <{letters.german.email}>"
    assert headers["From"] == "Coalition for Rights <letters@example.org>"
    assert f'href="{url}?lang=en"' in page
    (iframe,) = _Tags(page).all("iframe")
    assert "Wir schreiben Ihnen" in (iframe["srcdoc"] or "")


def test_a_spanish_speaking_mep_is_shown_the_english_fallback_with_a_note(
    letters: LetterCampaign,
) -> None:
    """The letter has no Spanish version: the preview says it is in English because this
    official reads es, with Content-Language en; ?lang=de shows the German version and says
    that this official would still get the English one."""
    url = f"/campaigns/{letters.campaign_id}/preview/{letters.spanish.id}"
    page = letters.client.get(url).get_data(as_text=True)
    assert "In English: this official reads es, which the letter does not have." in page
    assert _headers(page)["Content-Language"] == "en"
    assert f'href="{url}?lang=de"' in page

    page = letters.client.get(f"{url}?lang=de").get_data(as_text=True)
    assert _headers(page)["Content-Language"] == "de"
    assert (
        "In German, as chosen for this preview. This official gets the letter in English "
        "(they read es, which the letter does not have)."
    ) in " ".join(page.split())


def test_the_html_part_is_in_a_sandboxed_frame_and_a_hostile_name_stays_text(
    letters: LetterCampaign, app: Flask
) -> None:
    """An official named `"><script>…` : the page has no script element; the HTML part is an
    iframe with a bare `sandbox` (no allow-scripts, no same origin) whose srcdoc, once
    attribute-decoded, is exactly the copy's HTML, in which the name is text, not markup."""
    with app.app_context(), get_db().transaction() as session:
        hostile = Contact(
            kind="mep", display_name=HOSTILE, family_name=HOSTILE, country_code="ES",
            languages=["es"], email="hostile@example.org",
        )  # fmt: skip
        session.add(hostile)
        session.flush()
        hostile_id = hostile.id
        campaign = session.get(Campaign, letters.campaign_id)
        assert campaign is not None
        expected = services.preview(
            session, campaign, hostile, default_from="Coalition for Rights <letters@example.org>"
        )
    page = letters.client.get(f"/campaigns/{letters.campaign_id}/preview/{hostile_id}").get_data(
        as_text=True
    )
    assert "<script" not in page
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the heading, escaped
    (iframe,) = _Tags(page).all("iframe")
    assert _bare_sandbox(iframe)
    assert iframe["srcdoc"] == expected.html
    inner = _Tags(expected.html)
    assert not inner.all("script")
    assert "&lt;script&gt;" in expected.html


def test_the_campaign_page_previews_the_first_recipient_and_offers_any_other(
    letters: LetterCampaign, app: Flask
) -> None:
    """The draft page shows the first recipient's copy (language note, headers, sandboxed HTML
    part) and a picker of recipients by name; picking one, or typing a contact id (which wins),
    opens that recipient's preview."""
    page = letters.client.get(f"/campaigns/{letters.campaign_id}").get_data(as_text=True)
    first = letters.spanish  # the audience is ordered by id: Spanish MEP 2 comes first
    assert f"Preview for {first.display_name}" in page
    assert "In English: this official reads es, which the letter does not have." in page
    (iframe,) = _Tags(page).all("iframe")
    assert _bare_sandbox(iframe)
    # The recipient picker's options (the page has other selects: delivery states, supporters).
    picker_html = page.split('id="preview-contact"')[1].split("</select>")[0]
    picker = [a["value"] for a in _Tags(picker_html).all("option")]
    with app.app_context():
        audience = Audience.from_dict({"filter": "kind:mep and country:DE,ES"})
        expected = min(audience.count(get_db().session), 200)
    assert len(picker) == expected
    assert str(letters.german.id) in picker

    base = f"/campaigns/{letters.campaign_id}/preview"
    resp = letters.client.get(f"{base}?contact={letters.german.id}&contact_id=")
    assert resp.headers["Location"] == f"{base}/{letters.german.id}"
    resp = letters.client.get(f"{base}?contact={letters.german.id}&contact_id={first.id}")
    assert resp.headers["Location"] == f"{base}/{first.id}"


# --- "send a test to me" -----------------------------------------------------------------------------
def test_a_test_send_delivers_one_copy_to_the_staff_member_and_none_to_the_official(
    letters: LetterCampaign, app: Flask, smtp_server: CaptureServer
) -> None:
    """ "Send a test to me" for the German MEP: the SMTP server receives exactly one message,
    enveloped to the signed-in staff member, subject "[TEST] " + the German subject, multipart
    with text/plain and text/html, and an X-Outreach-Test header naming the MEP; nothing is
    addressed to the MEP and no Delivery row exists."""
    german = letters.german
    page = _post_button(
        letters.client,
        f"/campaigns/{letters.campaign_id}/preview/{german.id}",
        f"/campaigns/{letters.campaign_id}/test-send",
        {"contact_id": str(german.id), "back": "preview"},
    )
    assert f"Test sent to {STAFF}: the copy for {german.display_name}." in page
    assert f"Letter to {german.display_name}" in page  # back on the preview

    (received,) = read_mailbox(smtp_server.handler.maildir)
    assert received.envelope_to == [STAFF]
    assert received.envelope_from == "bounces@example.org"
    msg = received.message
    assert str(msg["To"]) == STAFF
    assert received.subject.startswith("[TEST] Pressefreiheit: ein Brief an ")
    # A long header is folded; the reader keeps the fold's leading space.
    rendered_for = str(msg["X-Outreach-Test"]).strip()
    assert rendered_for == f"{german.display_name} <{german.email}> (contact {german.id})"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Wir schreiben Ihnen" in received.body_text
    assert german.email not in received.envelope_to
    assert count_rows(app, Delivery) == 0


def test_a_test_send_without_a_contact_is_rendered_for_the_first_recipient(
    letters: LetterCampaign, app: Flask, smtp_server: CaptureServer
) -> None:
    """The campaign page's button posts no contact: the copy is the first recipient's (the
    Spanish MEP, in English), and it goes to the staff member only."""
    page = _post_button(
        letters.client,
        f"/campaigns/{letters.campaign_id}",
        f"/campaigns/{letters.campaign_id}/test-send",
        {},
    )
    first = letters.spanish
    assert f"Test sent to {STAFF}: the copy for {first.display_name}." in page
    (received,) = read_mailbox(smtp_server.handler.maildir)
    assert received.envelope_to == [STAFF]
    assert (
        str(received.message["X-Outreach-Test"])
        .strip()
        .startswith(f"{first.display_name} <{first.email}>")
    )
    assert received.subject.startswith("[TEST] Press freedom: a letter to ")
    assert count_rows(app, Delivery) == 0


def test_a_test_copy_carries_the_content_language_of_its_version(
    letters: LetterCampaign, smtp_server: CaptureServer
) -> None:
    """The German MEP's test copy says Content-Language: de, as the preview does."""
    _post_button(
        letters.client,
        f"/campaigns/{letters.campaign_id}",
        f"/campaigns/{letters.campaign_id}/test-send",
        {"contact_id": str(letters.german.id)},
    )
    (received,) = read_mailbox(smtp_server.handler.maildir)
    assert received.message["Content-Language"] == "de"


def test_a_test_send_refused_by_the_relay_flashes_the_smtp_error(
    letters: LetterCampaign, app: Flask, smtp_server: CaptureServer
) -> None:
    """When the relay answers 550, the page says the test was not sent with the SMTP reply;
    nothing was stored and no Delivery row exists."""
    smtp_server.handler.set_fault("550 5.7.1 relaying denied", 1)
    page = _post_button(
        letters.client,
        f"/campaigns/{letters.campaign_id}",
        f"/campaigns/{letters.campaign_id}/test-send",
        {"contact_id": str(letters.german.id)},
    )
    assert "Test not sent (permanent): 550 5.7.1 relaying denied" in page
    assert read_mailbox(smtp_server.handler.maildir) == []
    assert count_rows(app, Delivery) == 0


def test_a_viewer_cannot_send_tests_or_change_versions(
    letters: LetterCampaign, app: Flask, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A viewer may preview, but test-send and the language pages answer 403."""
    email, password = make_user(email="viewer@example.org", role="viewer")
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    base = f"/campaigns/{letters.campaign_id}"
    preview = client.get(f"{base}/preview/{letters.german.id}")
    assert preview.status_code == 200
    assert "Send this copy to me" not in preview.get_data(as_text=True)
    token = csrf_token_from(preview.get_data(as_text=True))
    assert client.get(f"{base}/languages/new").status_code == 403
    assert client.get(f"{base}/languages/de").status_code == 403
    resp = client.post(f"{base}/test-send", data={"csrf_token": token})
    assert resp.status_code == 403


# --- in a real browser ---------------------------------------------------------------------------
@pytest.mark.browser
def test_in_chromium_the_hostile_name_is_text_in_the_frame_and_the_test_send_arrives(
    page: Page,
    live_server: LiveServer,
    admin: tuple[str, str],
    app: Flask,
    smtp_server: CaptureServer,
) -> None:
    """Chromium shows the HTML part of a copy for an official named `"><script>…` inside the
    sandboxed frame as bold text, and no script runs (no dialog opens); the language links switch
    the preview to German; "Send this copy to me as a test" flashes its outcome and the SMTP
    server receives that one message for the admin, in German."""
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
        hostile = Contact(
            kind="mep", display_name=HOSTILE, family_name=HOSTILE, country_code="ES",
            languages=["es"], email="hostile@example.org",
        )  # fmt: skip
        session.add(hostile)
        campaign = services.create_campaign(
            session,
            name="Press freedom",
            subject=SUBJECT_EN,
            body=BODY_EN,
            audience={"filter": "kind:mep and country:ES"},
            signatories=[{"name": "Human Rights Coalition", "url": "https://hrc.example.org"}],
        )
        set_variant(session, campaign, "de", SUBJECT_DE, BODY_DE)
        session.flush()
        campaign_id, hostile_id = campaign.id, hostile.id
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    sign_in(page, live_server.url, *admin)

    page.goto(f"/campaigns/{campaign_id}/preview/{hostile_id}")
    expect(page.locator(".language-note")).to_contain_text(
        "In English: this official reads es, which the letter does not have."
    )
    frame = page.frame_locator("iframe.letter-html")
    expect(frame.locator("strong")).to_have_text(HOSTILE)
    expect(frame.get_by_role("link", name="Human Rights Coalition")).to_be_visible()
    assert page.locator("iframe.letter-html").get_attribute("sandbox") == ""
    shoot(page, "letters-preview-hostile")

    page.get_by_role("link", name="German (de)").click()
    expect(page.locator("dd.content-language")).to_have_text("de")
    expect(frame.locator("body")).to_contain_text("Wir schreiben Ihnen")
    page.get_by_role("button", name="Send this copy to me as a test").click()
    expect(page.locator(".flash.success")).to_have_text(
        f"Test sent to {admin[0]}: the copy for {HOSTILE}."
    )
    expect(page.locator("dd.content-language")).to_have_text("de")  # back on the same preview
    assert dialogs == []

    (received,) = read_mailbox(smtp_server.handler.maildir)
    assert received.envelope_to == [admin[0]]
    assert received.subject.startswith("[TEST] Pressefreiheit: ein Brief an ")
    assert count_rows(app, Delivery) == 0
