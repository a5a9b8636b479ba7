"""Write to your MEPs: a confirmed supporter's own letters, made at confirmation, sent by a real
worker to the real SMTP server, From "Name via <campaign>" with Reply-To the supporter; the
per-MEP daily cap; withdrawal and erasure of a supporter with letters."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from email.utils import getaddresses
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.campaigns.reconcile import reconcile
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.supporters.cosigners import named_cosigners
from outreach.supporters.letters import targets_for, write_letters
from outreach.supporters.models import Signature
from outreach.supporters.rights import erase, export_data, withdraw
from outreach.supporters.signing import SignatureInput, confirm_pending, sign
from tests.conftest import launch_campaign, running_worker, wait_for
from tests.supporters import (
    configure,
    confirmation_link,
    form_token,
    public_campaign,
    signing_data,
)

BODY = (
    "{{ salutation }}\n\nWe ask you to act for the fishermen.\n\n{{ supporter.message }}\n\n"
    "{{ supporter.name }}, {{ supporter.country }}"
)


def letters_campaign(app: Flask, *, cap: int | None = None, launch: bool = True) -> int:
    """A launched mail-to-target campaign with its public page, the bundled MEPs loaded."""
    from contacts.bundled import load_bundled

    campaign_id = public_campaign(app)
    with app.app_context(), get_db().transaction() as session:
        load_bundled(session)
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.subject_template = "The fishermen ({{ recipient.family_name }})"
        campaign.body_template = BODY
        campaign.supporter_letters = True
        campaign.supporter_message = "Please raise their case."
        campaign.supporter_message_max = 300
        campaign.supporter_daily_cap = cap
    if launch:
        launch_campaign(app, campaign_id)
    return campaign_id


def maltese_meps(app: Flask, campaign_id: int) -> list[Contact]:
    with app.app_context():
        session = get_db().session
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return targets_for(session, campaign, "MT")


def supporter_writes(
    app: Flask, campaign_id: int, email: str, contact_ids: list[int], *, name: str = "Ana Example"
) -> int:
    """A supporter signs and confirms through the services (as the pages do); their id."""
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        result = sign(
            session,
            campaign,
            SignatureInput(name=name, email=email, country="MT", privacy_notice="n", named=True),
            source="test",
            burst=None,
        )
        signature = session.get(Signature, result.signature_id)
        assert signature is not None
        assert confirm_pending(session, signature.id)
        write_letters(session, campaign, signature, contact_ids, "My own words.")
        return signature.id


def deliveries_of(app: Flask, signature_id: int | None = None) -> list[Delivery]:
    with app.app_context():
        stmt = select(Delivery).order_by(Delivery.id)
        if signature_id is not None:
            stmt = stmt.where(Delivery.signature_id == signature_id)
        return list(get_db().session.scalars(stmt))


def test_a_maltese_supporter_who_deselects_two_meps_sends_four_personal_letters(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """When a supporter in Malta signs, confirms and unticks 2 of the 6 Maltese MEPs, exactly 4
    letters reach the SMTP server, each to its MEP, From "Ana Example via <campaign>" at the
    service's address, Reply-To Ana, greeting the MEP and carrying Ana's own words (as text)."""
    campaign_id = letters_campaign(app)
    meps = maltese_meps(app, campaign_id)
    assert len(meps) == 6
    configure(app, sign_min_seconds=0)
    page = client.get("/c/free-them").get_data(as_text=True)
    assert "send this letter in your own name" in page
    client.post("/c/free-them", data=signing_data(form_token(page), country="MT"))
    maildir = smtp_server.handler.maildir
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(maildir)) == 1, timeout=20)
        path = urlsplit(confirmation_link(read_mailbox(maildir)[0].body_text)).path
        confirm_page = client.get(path).get_data(as_text=True)
        for mep in meps:
            assert f'name="mep" value="{mep.id}"' in confirm_page
        assert "Please raise their case." in confirm_page  # the suggested text, to edit
        assert deliveries_of(app) == []  # nothing before the confirmation
        chosen = meps[2:]
        words = "My *own* words: [a link](http://x.example) <b>bold</b>"
        resp = client.post(
            path,
            data={
                "csrf_token": form_token(confirm_page),
                "mep": [str(m.id) for m in chosen],
                "message": words,
            },
        )
        assert resp.status_code == 302
        thanks = client.get(resp.headers["Location"]).get_data(as_text=True)
        assert "Your letters to 4 MEPs are on their way." in thanks
        wait_for(lambda: len(read_mailbox(maildir)) == 5, timeout=30)
        wait_for(lambda: all(d.state == "sent" for d in deliveries_of(app)), timeout=20)
    letters = [m for m in read_mailbox(maildir) if "confirm" not in m.subject]
    assert len(letters) == 4
    by_address = {m.envelope_to[0]: m for m in letters}
    assert set(by_address) == {m.email for m in chosen}
    for mep in chosen:
        mail = by_address[mep.email or ""]
        [(shown, address)] = getaddresses([str(mail.message["From"])])
        assert (shown, address) == ("Ana Example via Free the fishermen", "letters@example.org")
        assert getaddresses([str(mail.message["Reply-To"])]) == [("Ana Example", "ana@example.org")]
        assert mail.subject == f"The fishermen ({mep.family_name})"
        text = mail.body_text
        assert mep.family_name in text.split("\n")[0]  # the greeting names the MEP
        assert "My *own* words: [a link](http://x.example) <b>bold</b>" in text
        assert "Ana Example, Malta" in text
        html = mail.message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        assert "<b>bold" not in html
        assert "&lt;b&gt;bold" in html
        assert "<em>" not in html
        assert 'href="http://x.example' not in html
        assert "List-Unsubscribe" not in mail.message
    rows = deliveries_of(app)
    assert len(rows) == 4
    assert {d.role for d in rows} == {"supporter"}
    with app.app_context():
        [signature] = get_db().session.scalars(select(Signature)).all()
    assert signature.state == "confirmed"
    assert signature.letter_message == words
    assert {d.signature_id for d in rows} == {signature.id}


def test_the_per_mep_daily_cap_defers_letters_beyond_it_to_the_next_day(app: Flask) -> None:
    """With a cap of 1 letter per MEP per day, a second supporter's letters to the same MEPs are
    deferred to the start of tomorrow (not dropped), and the reconciler queues them then."""
    campaign_id = letters_campaign(app, cap=1)
    meps = maltese_meps(app, campaign_id)
    first = supporter_writes(app, campaign_id, "one@example.org", [m.id for m in meps[:2]])
    second = supporter_writes(app, campaign_id, "two@example.org", [m.id for m in meps[1:3]])
    today = utcnow().date()
    tomorrow = today + timedelta(days=1)
    assert [(d.state, d.send_on) for d in deliveries_of(app, first)] == [("queued", today)] * 2
    later = {d.contact_id: d for d in deliveries_of(app, second)}
    assert (later[meps[1].id].state, later[meps[1].id].send_on) == ("deferred", tomorrow)
    start = datetime.combine(tomorrow, time(0, 0), tzinfo=UTC)
    assert later[meps[1].id].next_attempt_at is not None
    assert later[meps[1].id].next_attempt_at.replace(tzinfo=UTC) >= start
    # An MEP nobody else wrote to today still gets the letter today.
    assert (later[meps[2].id].state, later[meps[2].id].send_on) == ("queued", today)
    with app.app_context():
        [event] = get_db().session.scalars(
            select(DeliveryEvent).where(DeliveryEvent.delivery_id == later[meps[1].id].id)
        )
    assert "daily cap of 1" in (event.detail or "")
    # Tomorrow the reconciler queues it.
    with app.app_context(), get_db().transaction() as session:
        reconcile(session, batch_size=10, now=start + timedelta(hours=1))
    assert {d.contact_id: d.state for d in deliveries_of(app, second)}[meps[1].id] == "queued"


def test_withdrawing_cancels_unsent_letters_and_takes_the_name_off(app: Flask) -> None:
    campaign_id = letters_campaign(app, cap=1)
    meps = maltese_meps(app, campaign_id)
    supporter_writes(app, campaign_id, "one@example.org", [meps[0].id], name="First One")
    second = supporter_writes(
        app, campaign_id, "two@example.org", [m.id for m in meps[:2]], name="Second Two"
    )
    with app.app_context():
        assert named_cosigners(get_db().session, campaign_id) == ["First One", "Second Two"]
    with app.app_context(), get_db().transaction() as session:
        assert withdraw(session, second)
    states = {d.contact_id: d.state for d in deliveries_of(app, second)}
    assert states == {meps[0].id: "cancelled", meps[1].id: "cancelled"}
    with app.app_context():
        assert named_cosigners(get_db().session, campaign_id) == ["First One"]


def test_erasure_keeps_sent_letters_without_any_trace_of_the_supporter(app: Flask) -> None:
    campaign_id = letters_campaign(app, cap=1)
    meps = maltese_meps(app, campaign_id)
    gone = supporter_writes(app, campaign_id, "ana@example.org", [m.id for m in meps[:2]])
    with app.app_context(), get_db().transaction() as session:
        # As if the first letter had gone out.
        sent = session.scalars(select(Delivery).where(Delivery.signature_id == gone)).first()
        assert sent is not None
        sent.state, sent.sent_at = "sent", utcnow()
        sent_id = sent.id
    with app.app_context():
        exported = export_data(get_db().session, "ana@example.org")
    [held] = exported["signatures"]
    assert held["letter_message"] == "My own words."
    assert sorted(letter["address"] for letter in held["letters"]) == sorted(
        m.email for m in meps[:2]
    )
    assert sorted(letter["state"] for letter in held["letters"]) == ["queued", "sent"]
    with app.app_context(), get_db().transaction() as session:
        done = erase(session, "Ana@Example.org", actor="test")
    assert (done.signatures, done.letters_kept, done.letters_cancelled) == (1, 2, 1)
    rows = deliveries_of(app)
    assert {d.id: d.state for d in rows}[sent_id] == "sent"
    assert all(d.signature_id is None for d in rows)
    with app.app_context():
        session = get_db().session
        assert session.scalars(select(Signature)).all() == []
        texts = [str(v) for d in rows for v in vars(d).values()]
        texts += [f"{e.actor} {e.detail}" for e in session.scalars(select(DeliveryEvent)).all()]
    assert not any("ana" in t.lower() for t in texts)


def test_the_confirmation_page_refuses_a_text_over_the_limit_and_confirms_nothing(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    letters_campaign(app)
    configure(app, sign_min_seconds=0)
    page = client.get("/c/free-them").get_data(as_text=True)
    client.post("/c/free-them", data=signing_data(form_token(page), country="MT"))
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 1, timeout=20)
    path = urlsplit(confirmation_link(read_mailbox(smtp_server.handler.maildir)[0].body_text)).path
    confirm_page = client.get(path).get_data(as_text=True)
    resp = client.post(
        path, data={"csrf_token": form_token(confirm_page), "mep": ["1"], "message": "x" * 301}
    )
    assert resp.status_code == 400
    assert "at most 300 characters" in resp.get_data(as_text=True)
    with app.app_context():
        [signature] = get_db().session.scalars(select(Signature)).all()
    assert signature.state == "pending"
    assert deliveries_of(app) == []


def test_greek_supporters_reach_meps_filed_under_gr_or_el(app: Flask) -> None:
    """The form's ISO code GR finds MEPs whose directory code is GR or the EU's EL."""
    campaign_id = letters_campaign(app, launch=False)
    with app.app_context(), get_db().transaction() as session:
        greek = session.scalars(select(Contact).where(Contact.country_code == "GR")).all()
        greek[0].country_code = "EL"
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        found = targets_for(session, campaign, "GR")
        assert {c.id for c in found} == {c.id for c in greek if c.kind == "mep"}
        campaign.supporter_committees = ["AFET"]
        afet = targets_for(session, campaign, "GR")
        assert 0 < len(afet) < len(found)
        assert all("AFET" in {m.acronym for m in c.memberships} for c in afet)


def test_staff_set_the_mode_in_the_console_and_launching_opens_it_with_no_letter(
    app: Flask, login: object
) -> None:
    from tests.conftest import csrf_token_from, draft_campaign

    campaign_id = draft_campaign(app, {}, load_directory=False)
    staff = login("admin")  # type: ignore[operator]
    token = csrf_token_from(staff.get(f"/campaigns/{campaign_id}").get_data(as_text=True))
    data = {"csrf_token": token, "slug": "write-them", "signing_open": "y",
            "cosigner_display": "none", "supporter_letters": "y",
            "supporter_committees": "afet, DROI", "supporter_daily_cap": "20",
            "supporter_message": "Please act.", "supporter_message_max": "800"}  # fmt: skip
    assert staff.post(f"/campaigns/{campaign_id}/public", data=data).status_code == 302
    bad = staff.post(
        f"/campaigns/{campaign_id}/public",
        data={**data, "supporter_committees": "AFET; drop table"},
        follow_redirects=True,
    )
    assert "committees are acronyms" in bad.get_data(as_text=True)
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.supporter_letters, campaign.supporter_committees) == (
            True,
            ["AFET", "DROI"],
        )
        assert (campaign.supporter_daily_cap, campaign.supporter_message_max) == (20, 800)
        assert campaign.supporter_message == "Please act."
    page = staff.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "open supporters&#39; letters" in page or "open supporters' letters" in page
    launched = staff.post(
        f"/campaigns/{campaign_id}/launch", data={"csrf_token": token}, follow_redirects=True
    )
    assert "go out when they confirm" in launched.get_data(as_text=True)
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.status == "sending"
    assert deliveries_of(app) == []
    # The mode is fixed once launched.
    changed = staff.post(
        f"/campaigns/{campaign_id}/public",
        data={**data, "supporter_letters": ""},
        follow_redirects=True,
    )
    assert "only change while the campaign is a draft" in changed.get_data(as_text=True)


def test_simultaneous_confirmations_never_put_two_letters_on_one_day_under_a_cap_of_one(
    app: Flask,
) -> None:
    """Eight supporters confirm at the same moment, each writing to the same MEP, with a cap of
    one letter a day: eight letters on eight different days (the count is serialised per MEP)."""
    import threading

    campaign_id = letters_campaign(app, cap=1)
    mep = maltese_meps(app, campaign_id)[0]
    ids = []
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        for n in range(8):
            data = SignatureInput(
                name=f"S {n}", email=f"s{n}@example.org", country="MT", privacy_notice="n"
            )
            ids.append(sign(session, campaign, data, source=f"t{n}", burst=None).signature_id)
    barrier = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def confirm_and_write(signature_id: int) -> None:
        try:
            with app.app_context(), get_db().transaction() as session:
                barrier.wait(timeout=20)
                assert confirm_pending(session, signature_id)
                campaign = session.get(Campaign, campaign_id)
                signature = session.get(Signature, signature_id)
                assert campaign is not None
                assert signature is not None
                write_letters(session, campaign, signature, [mep.id], "")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=confirm_and_write, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    days = sorted(d.send_on for d in deliveries_of(app) if d.send_on is not None)
    today = utcnow().date()
    assert days == [today + timedelta(days=n) for n in range(8)]
