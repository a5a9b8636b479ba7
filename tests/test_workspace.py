"""The campaign workspace in the console: the steps of a drive on every campaign page with states
read from the campaign, the letter editor's preview of the letter as typed, the sending identity
and estimate, and the launch confirmation that states the count and the languages.

Through the admin pages with their CSRF tokens, against the migrated database and the bundled
directory; the test send crosses the real SMTP server, the launch creates real delivery rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.bundled import load_bundled
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.letters import set_variant
from outreach.campaigns.models import Campaign, Delivery
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.conftest import csrf_token_from

STEPS = ["letter", "audience", "signatories", "sending", "check", "test", "launch", "progress"]
BODY_EN = "{{ salutation }}\n\nWe write to you, {{ recipient.display_name }}, about press freedom."
BODY_DE = "{{ salutation }}\n\nWir schreiben Ihnen, {{ recipient.display_name }}."
STEP_RE = re.compile(r'data-step="([a-z]+)" data-state="([a-z]+)"')


def steps_of(page: str) -> dict[str, str]:
    """{step: state} as the page's step bar shows them, in order."""
    assert 'aria-label="Steps of the drive"' in page
    found = STEP_RE.findall(page)
    assert [k for k, _ in found] == STEPS
    return dict(found)


def _campaign(app: Flask, *, german: bool = True) -> int:
    """English and German letter to the German and Maltese MEPs."""
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
        campaign = services.create_campaign(
            session,
            name="Press freedom",
            subject="Press freedom: {{ recipient.formal_name }}",
            body=BODY_EN,
            audience={"filter": "kind:mep and country:DE,MT"},
        )
        if german:
            set_variant(session, campaign, "de", "Pressefreiheit", BODY_DE)
        return campaign.id


def test_every_campaign_page_shows_the_steps_and_their_states_follow_the_work(
    app: Flask, login: Callable[..., FlaskClient], smtp_server: CaptureServer
) -> None:
    """A new draft: letter, audience and sending done, the rest not yet. The check page stores
    its verdict (Check done); a test send that reached the SMTP server makes Test send done; a
    change to the letter afterwards makes the check need attention again; the launch makes
    Launch done and Progress in progress."""
    campaign_id = _campaign(app)
    client = login("admin")
    base = f"/campaigns/{campaign_id}"
    for url in [base, f"{base}/edit", f"{base}/languages/de", f"{base}/languages/new",
                f"{base}/launch", f"{base}/check"]:  # fmt: skip
        resp = client.get(url)
        assert resp.status_code == 200, url
        steps_of(resp.get_data(as_text=True))

    page = client.get(base).get_data(as_text=True)
    states = steps_of(page)
    assert states["letter"] == states["audience"] == states["sending"] == "done"
    assert states["check"] == "done"  # the loop above opened the check page: it is stored
    assert states["test"] == states["launch"] == states["progress"] == "todo"
    assert states["signatories"] == "todo"

    # A test send that reached the SMTP server.
    with app.app_context():
        first = (
            get_db()
            .session.scalars(
                select(Contact.id).where(Contact.country_code == "DE", Contact.kind == "mep")
            )
            .first()
        )
    resp = client.post(
        f"{base}/test-send",
        data={"csrf_token": csrf_token_from(page), "contact_id": str(first)},
        follow_redirects=True,
    )
    assert "Test sent to admin@example.org" in resp.get_data(as_text=True)
    assert len(read_mailbox(smtp_server.handler.maildir)) == 1
    assert steps_of(resp.get_data(as_text=True))["test"] == "done"

    # The letter changes: the stored check no longer reads it.
    token = csrf_token_from(client.get(f"{base}/languages/de").get_data(as_text=True))
    client.post(
        f"{base}/languages/de",
        data={"csrf_token": token, "subject": "Pressefreiheit!", "body": BODY_DE + "\n\nDanke."},
    )
    page = client.get(base).get_data(as_text=True)
    assert steps_of(page)["check"] == "attention"
    assert "the letter or the audience changed since the check" in page

    # Launch from the confirmation page.
    launch = client.get(f"{base}/launch").get_data(as_text=True)
    resp = client.post(
        base + "/launch", data={"csrf_token": csrf_token_from(launch)}, follow_redirects=True
    )
    page = resp.get_data(as_text=True)
    assert "Launched:" in page
    states = steps_of(page)
    assert states["launch"] == "done"
    assert states["progress"] == "running"


def test_the_launch_page_states_the_count_and_the_languages_that_a_launch_then_makes(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """ "Send N letters now" and the split by language are what the launch creates: N delivery
    rows, the German readers' share in German, the Maltese MEPs' in English."""
    campaign_id = _campaign(app)
    client = login("admin")
    page = client.get(f"/campaigns/{campaign_id}/launch").get_data(as_text=True)
    count = int(re.search(r"Send ([0-9,]+) letters now", page).group(1).replace(",", ""))  # type: ignore[union-attr]
    split = {
        lang: int(n.replace(",", ""))
        for n, lang in re.findall(
            r'<li data-language="[a-z-]+"><b>([0-9,]+)</b> in (English|German)</li>', page
        )
    }
    assert sum(split.values()) == count
    assert "Estimated duration:" in page
    assert "From Coalition for Rights &lt;letters@example.org&gt;" in page

    resp = client.post(
        f"/campaigns/{campaign_id}/launch",
        data={"csrf_token": csrf_token_from(page), "lint_digest": ""},
        follow_redirects=True,
    )
    assert f"Launched: {count} letters queued for sending." in resp.get_data(as_text=True)
    with app.app_context():
        session = get_db().session
        rows = session.execute(
            select(Contact.languages)
            .join(Delivery, Delivery.contact_id == Contact.id)
            .where(Delivery.campaign_id == campaign_id)
        ).all()
    assert len(rows) == count
    german = sum(1 for (langs,) in rows if "de" in (langs or []))
    assert split == {"German": german, "English": count - german}


def test_the_preview_fragment_renders_the_letter_as_typed_for_the_chosen_recipient(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The endpoint the editor's script posts to answers the chosen official's copy of the
    unsaved text, or the error with its line; nothing is saved either way."""
    campaign_id = _campaign(app)
    client = login("admin")
    with app.app_context():
        maltese = (
            get_db()
            .session.scalars(
                select(Contact).where(Contact.country_code == "MT", Contact.kind == "mep")
            )
            .first()
        )
        assert maltese is not None
        name = maltese.display_name
    editor = client.get(f"/campaigns/{campaign_id}/edit").get_data(as_text=True)
    assert 'data-live-preview="/campaigns/' in editor
    token = csrf_token_from(editor)
    url = f"/campaigns/{campaign_id}/letter-preview"
    resp = client.post(
        url,
        data={
            "csrf_token": token,
            "preview_part": "letter",
            "language": "en",
            "subject": "Unsaved subject for {{ recipient.display_name }}",
            "body": "Typed just now for {{ recipient.display_name }}.",
            "preview_contact": str(maltese.id),
        },
    )
    fragment = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert f"Unsaved subject for {name}" in fragment
    assert f"Typed just now for {name}." in fragment
    assert "<html" not in fragment.lower()[:200]  # a fragment, not a page

    resp = client.post(
        url,
        data={
            "csrf_token": token,
            "preview_part": "variant",
            "preview_language": "de",
            "subject": "Betreff",
            "body": "Hallo\n\n{{ recipient.nam }}",
            "preview_contact": str(maltese.id),
        },
    )
    error = resp.get_data(as_text=True)
    assert 'data-state="error"' in error
    assert 'role="alert"' in error
    assert "nam" in error
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.body_template == BODY_EN
        assert campaign.letter_sources()["de"] == ("Pressefreiheit", BODY_DE)


def test_the_preview_button_works_without_javascript_and_saves_nothing(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    campaign_id = _campaign(app)
    client = login("admin")
    url = f"/campaigns/{campaign_id}/languages/de"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    resp = client.post(
        url,
        data={
            "csrf_token": token,
            "subject": "Neuer Betreff {{ recipient.family_name }}",
            "body": "Noch nicht gespeichert.",
            "preview": "y",
        },
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Noch nicht gespeichert." in page
    assert 'id="live-preview"' in page
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.letter_sources()["de"] == ("Pressefreiheit", BODY_DE)


def test_the_campaign_page_shows_the_sending_identity_pace_and_languages_of_the_audience(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    campaign_id = _campaign(app)
    client = login("admin")
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    sending = page.split('id="sending"')[1].split("</section>")[0]
    assert "Coalition for Rights &lt;letters@example.org&gt;" in sending
    assert "bounces@example.org" in sending
    assert "not signed" in sending
    assert "as fast as each domain" in sending
    assert "Estimated duration:" in sending
    audience = page.split('id="audience"')[1].split("</section>")[0]
    assert "in German" in audience
    assert "in English" in audience
    assert 'href="/contacts?filter=kind' in audience  # the directory's builder, not a copy of it


def test_languages_counted_for_the_launch_match_each_officials_choice(app: Flask) -> None:
    """The workspace's launch plan counts each official in the language the sender would pick."""
    from outreach.campaigns.workspace import launch_plan

    campaign_id = _campaign(app)
    with app.app_context():
        session = get_db().session
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        plan = launch_plan(session, campaign)
        readers = Counter(
            "de" if "de" in (langs or []) else "en"
            for (langs,) in session.execute(
                select(Contact.languages).where(
                    Contact.kind == "mep", Contact.country_code.in_(["DE", "MT"])
                )
            )
        )
    assert plan.error is None
    assert plan.languages == dict(readers)


def test_the_launch_and_progress_steps_follow_the_schedule_and_the_deliveries() -> None:
    """Scheduled: Launch in progress; refused at its time: needs attention; sending: Progress in
    progress; uncertain letters: Progress needs attention; finished cleanly: done."""
    from datetime import UTC, datetime

    from outreach.campaigns.workspace import CheckState, LaunchPlan, StepState, next_step, steps

    campaign = Campaign(
        name="x", subject_template="Hi", body_template="{{ salutation }}", default_language="en",
        audience={}, signatories=[], status="draft", addressing="individual",
        joint_to=[], joint_cc=[], supporter_letters=False,
    )  # fmt: skip
    plan = LaunchPlan(letters=3, languages={"en": 3})
    todo = CheckState(StepState.TODO, "not yet")

    def state(key: str, counts: dict[str, int] | None = None) -> StepState:
        found = steps(campaign, plan=plan, check=todo, counts=counts or {})
        return next(s.state for s in found if s.key == key)

    assert state("launch") == StepState.TODO
    assert next_step(steps(campaign, plan=plan, check=todo, counts={})) == "check"
    campaign.scheduled_at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert state("launch") == StepState.RUNNING
    campaign.scheduled_at, campaign.schedule_error = None, "Not launched at the scheduled time"
    assert state("launch") == StepState.ATTENTION
    assert next_step(steps(campaign, plan=plan, check=todo, counts={})) == "launch"

    campaign.status = "sending"
    assert state("progress", {"queued": 2, "sent": 1}) == StepState.RUNNING
    assert state("progress", {"uncertain": 1, "sent": 2}) == StepState.ATTENTION
    campaign.status = "finished"
    assert state("progress", {"sent": 3}) == StepState.DONE
    assert state("progress", {"sent": 2, "failed": 1}) == StepState.ATTENTION
