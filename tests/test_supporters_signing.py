"""Signing on the public page: double opt-in through a real worker and SMTP server, duplicates,
the form's protections (token, honeypot, fill time, rate limits, body size, bursts), escaping,
and what the letter shows of its co-signers."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.base import utcnow
from outreach.campaigns.models import Campaign
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.supporters.cosigners import cosigners_for
from outreach.supporters.models import PrivacyNotice, Signature
from outreach.supporters.sweep import SweepReport, sweep_signatures
from tests.conftest import count_rows, running_worker, wait_for
from tests.supporters import (
    configure,
    confirmation_link,
    form_token,
    public_campaign,
    signing_data,
)


def _signatures(app: Flask) -> list[Signature]:
    with app.app_context():
        return list(get_db().session.scalars(select(Signature).order_by(Signature.id)))


def _sign(client: FlaskClient, slug: str = "free-them", **data: str) -> tuple[int, str]:
    token = form_token(client.get(f"/c/{slug}").get_data(as_text=True))
    resp = client.post(f"/c/{slug}", data=signing_data(token, **data))
    return resp.status_code, resp.get_data(as_text=True)


def _confirm(client: FlaskClient, link: str) -> int:
    path = urlsplit(link).path
    page = client.get(path)
    assert page.status_code == 200
    resp = client.post(path, data={"csrf_token": form_token(page.get_data(as_text=True))})
    return resp.status_code


def test_a_signature_counts_only_after_the_link_in_its_mail_is_confirmed(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """When a supporter signs, the worker mails a confirmation link (with List-Unsubscribe); the
    counter moves only once the link's button is pressed."""
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    status, page = _sign(client, email_address="Ana.Example@Example.ORG")
    assert status == 200
    assert "check your inbox" in page
    [sig] = _signatures(app)
    assert (sig.state, sig.email, sig.consent, sig.named) == (
        "pending",
        "ana.example@example.org",
        True,
        True,
    )
    assert client.get("/c/free-them/count.json").get_json()["confirmed"] == 0
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 1, timeout=20)
    [mail] = read_mailbox(smtp_server.handler.maildir)
    assert mail.envelope_to == ["ana.example@example.org"]
    assert "confirm your signature" in mail.subject
    assert mail.message["List-Unsubscribe"].startswith("<http")
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = confirmation_link(mail.body_text)
    # Opening the link confirms nothing (mail scanners open links); its button does.
    client.get(urlsplit(link).path)
    assert _signatures(app)[0].state == "pending"
    assert _confirm(client, link) == 302
    [sig] = _signatures(app)
    assert sig.state == "confirmed"
    assert sig.confirmed_at is not None
    assert sig.confirmation_sent_at is not None
    assert client.get("/c/free-them/count.json").get_json() == {
        "confirmed": 1,
        "goal": 100,
        "open": True,
    }
    assert "Ana Example" in client.get("/c/free-them").get_data(as_text=True)


def test_signing_again_never_makes_a_second_signature_and_mails_at_most_once_an_hour(
    app: Flask, client: FlaskClient
) -> None:
    """The same address (in any case) signs three times: one row, one mail job; an hour later
    a repeat queues the confirmation mail again."""
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    assert _sign(client)[0] == 200
    for spelling in ("ana@example.org", "ANA@example.org"):
        status, page = _sign(client, email_address=spelling)
        assert status == 200
        assert "already been used to sign" in page
    [sig] = _signatures(app)
    first_request = sig.confirmation_requested_at
    with app.app_context(), get_db().transaction() as session:
        session.get(Signature, sig.id).confirmation_requested_at = utcnow() - timedelta(hours=2)  # type: ignore[union-attr]
    _sign(client)
    [sig] = _signatures(app)
    assert count_rows(app, Signature) == 1
    assert sig.confirmation_requested_at is not None
    assert first_request is not None
    assert sig.confirmation_requested_at > first_request


def test_a_forged_or_missing_form_token_is_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient
) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    for token in ("", "forged.token.value"):
        resp = client.post("/c/free-them", data=signing_data(token))
        assert resp.status_code == 400
        assert "could not be accepted" in resp.get_data(as_text=True)
    # A token made for another campaign's form does not sign this one.
    public_campaign(app, slug="other")
    other = form_token(client.get("/c/other").get_data(as_text=True))
    assert client.post("/c/free-them", data=signing_data(other)).status_code == 400
    assert count_rows(app, Signature) == 0


def test_the_honeypot_answers_like_success_but_stores_nothing(
    app: Flask, client: FlaskClient
) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    status, page = _sign(client, website="https://spam.example")
    assert status == 200
    assert "check your inbox" in page
    assert count_rows(app, Signature) == 0


def test_a_form_sent_faster_than_a_person_can_fill_it_is_refused_with_a_message(
    app: Flask, client: FlaskClient
) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=30)
    status, page = _sign(client)
    assert status == 400
    assert "very fast" in page
    assert count_rows(app, Signature) == 0


def test_field_errors_are_next_to_their_fields_in_the_page_language(
    app: Flask, client: FlaskClient
) -> None:
    """German and French pages (Accept-Language or ?lang=) give their errors in that language."""
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    page = client.get("/c/free-them", headers={"Accept-Language": "de-DE,de;q=0.9"})
    html = page.get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "Brief unterschreiben" in html
    resp = client.post(
        "/c/free-them?lang=fr",
        data=signing_data(form_token(html), email_address="not an address", consent=""),
    )
    assert resp.status_code == 400
    text = resp.get_data(as_text=True)
    assert 'id="email-error">Cette adresse e-mail n' in text
    assert "est pas valide." in text
    assert 'id="consent-error">Votre signature nécessite' in text
    assert 'aria-describedby="email-hint email-error"' in text
    assert count_rows(app, Signature) == 0


def test_names_and_comments_are_plain_text_escaped_on_every_page(
    app: Flask, client: FlaskClient, login: object
) -> None:
    campaign_id = public_campaign(app)
    configure(app, sign_min_seconds=0)
    evil = '<script>alert("x")</script>\r\nBcc: x@example.org'
    _sign(client, name=evil, comment="<img src=x onerror=alert(1)>")
    [sig] = _signatures(app)
    assert "\n" not in sig.name
    assert "\r" not in sig.name
    with app.app_context(), get_db().transaction() as session:
        from outreach.supporters.signing import confirm

        confirm(session, sig.id)
    public = client.get("/c/free-them").get_data(as_text=True)
    assert "<script>alert" not in public
    assert "&lt;script&gt;" in public
    staff = login("admin")  # type: ignore[operator]
    console = staff.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "<script>alert" not in console
    assert "<img src=x" not in console


def test_rate_limits_per_ip_and_per_address_answer_429(app: Flask, client: FlaskClient) -> None:
    """Past either limit (counted in Redis) the form answers 429 with Retry-After, the seconds
    left in the limit's window; answers within the limits carry no rate-limit headers (they
    would cost Redis round trips on every signature)."""
    public_campaign(app)
    configure(app, sign_min_seconds=0, sign_rate_per_address="2/hour", sign_rate_per_ip="")
    assert [_sign(client)[0] for _ in range(3)] == [200, 200, 429]
    configure(app, sign_rate_per_address="", sign_rate_per_ip="3/hour")
    token = form_token(client.get("/c/free-them").get_data(as_text=True))
    answers = [
        client.post("/c/free-them", data=signing_data(token, email_address=f"p{i}@example.org"))
        for i in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 3600
    assert not any(name.startswith("X-RateLimit") for name, _value in answers[0].headers)


def test_a_body_larger_than_16_kb_is_refused(app: Flask, client: FlaskClient) -> None:
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    token = form_token(client.get("/c/free-them").get_data(as_text=True))
    resp = client.post("/c/free-them", data=signing_data(token, comment="x" * 20_000))
    assert resp.status_code == 413
    assert count_rows(app, Signature) == 0


def test_a_burst_from_one_source_is_held_for_review_and_staff_approve_or_reject(
    app: Flask, client: FlaskClient, login: object
) -> None:
    """With OUTREACH_SIGN_BURST=3/10, the fourth and fifth signatures from one IP are held: they
    count for nothing and get no mail until staff approve (then pending, mail queued)."""
    campaign_id = public_campaign(app)
    configure(app, sign_min_seconds=0, sign_burst="3/10")
    for i in range(5):
        assert _sign(client, email_address=f"s{i}@example.org")[0] == 200
    states = [s.state for s in _signatures(app)]
    assert states == ["pending", "pending", "pending", "held", "held"]
    held = [s for s in _signatures(app) if s.state == "held"]
    assert all(s.confirmation_requested_at is None for s in held)
    staff = login("campaigner")  # type: ignore[operator]
    page = staff.get(f"/campaigns/{campaign_id}?signatures=held").get_data(as_text=True)
    from tests.conftest import csrf_token_from

    token = csrf_token_from(page)
    url = f"/campaigns/{campaign_id}/signatures/{{}}/review"
    assert (
        staff.post(
            url.format(held[0].id), data={"csrf_token": token, "action": "approve"}
        ).status_code
        == 302
    )
    assert (
        staff.post(
            url.format(held[1].id), data={"csrf_token": token, "action": "reject"}
        ).status_code
        == 302
    )
    after = {s.id: s for s in _signatures(app)}
    assert after[held[0].id].state == "pending"
    assert after[held[0].id].confirmation_requested_at is not None
    assert after[held[1].id].state == "rejected"


def test_staff_set_the_public_page_and_a_slug_is_unique(app: Flask, login: object) -> None:
    from tests.conftest import csrf_token_from, draft_campaign

    first = draft_campaign(app, {}, load_directory=False)
    second = draft_campaign(app, {}, load_directory=False, name="Second")
    staff = login("admin")  # type: ignore[operator]
    token = csrf_token_from(staff.get(f"/campaigns/{first}").get_data(as_text=True))
    data = {"csrf_token": token, "slug": "free-them", "signing_open": "y", "signature_goal": "500",
            "cosigner_display": "count", "privacy_notice": "We keep your name."}  # fmt: skip
    assert staff.post(f"/campaigns/{first}/public", data=data).status_code == 302
    taken = staff.post(f"/campaigns/{second}/public", data=data, follow_redirects=True)
    assert "used by another campaign" in taken.get_data(as_text=True)
    with app.app_context():
        campaign = get_db().session.get(Campaign, first)
        assert campaign is not None
        assert (campaign.slug, campaign.signing_open, campaign.signature_goal) == (
            "free-them",
            True,
            500,
        )
    public = staff.get("/c/free-them").get_data(as_text=True)
    assert "We keep your name." in public


def test_the_privacy_notice_consented_to_is_stored_word_for_word(
    app: Flask, client: FlaskClient
) -> None:
    campaign_id = public_campaign(app)
    configure(app, sign_min_seconds=0)
    with app.app_context(), get_db().transaction() as session:
        session.get(Campaign, campaign_id).privacy_notice = "Version one."  # type: ignore[union-attr]
    _sign(client)
    [sig] = _signatures(app)
    with app.app_context():
        notice = get_db().session.get(PrivacyNotice, sig.privacy_notice_sha256)
        assert notice is not None
        assert notice.text == "Version one."


def test_the_letter_shows_only_confirmed_cosigners_and_names_only_of_those_who_agreed(
    app: Flask,
) -> None:
    campaign_id = public_campaign(app)
    now = utcnow()
    with app.app_context(), get_db().transaction() as session:

        def add(n: int, state: str, named: bool) -> None:
            session.add(Signature(campaign_id=campaign_id, name=f"Person {n}", email=f"p{n}@example.org",
                                  country="FR", consent=True, privacy_notice_sha256=_notice(session),
                                  named=named, state=state, ip_hash="x", confirmed_at=now))  # fmt: skip

        add(1, "confirmed", True)
        add(2, "confirmed", False)
        add(3, "pending", True)
        add(4, "held", True)
        add(5, "withdrawn", True)
    with app.app_context():
        session = get_db().session
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        view = cosigners_for(session, campaign)
        assert (view.count, view.names) == (2, ("Person 1",))
        campaign.cosigner_display = "count"
        assert cosigners_for(session, campaign).names == ()
        campaign.cosigner_display = "none"
        assert cosigners_for(session, campaign).count == 0


def _notice(session: object) -> str:
    from outreach.supporters.signing import record_notice

    return record_notice(session, "notice")  # type: ignore[arg-type]


def test_the_preview_renders_the_cosigners(app: Flask, login: object) -> None:
    """The console's preview passes the co-signers to the letter."""
    from tests.conftest import draft_campaign

    campaign_id = draft_campaign(
        app,
        {"countries": ["MT"]},
        body="{{ salutation }} {{ cosigners.count }} co-sign",
    )
    now = utcnow()
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.cosigner_display = "count"
        session.add(Signature(campaign_id=campaign_id, name="A", email="a@example.org", country="FR",
                              consent=True, privacy_notice_sha256=_notice(session), state="confirmed",
                              ip_hash="x", confirmed_at=now))  # fmt: skip
    staff = login("admin")  # type: ignore[operator]
    page = staff.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "1 co-sign" in page


def test_one_reminder_after_two_days_and_lost_confirmations_are_queued_again(
    app: Flask, client: FlaskClient, smtp_server: CaptureServer
) -> None:
    """The reconciler's sweep claims confirmations whose kick was lost; a claimed confirmation
    whose mail job was lost (Redis flushed) goes back to the outbox after 15 minutes and is
    queued again; one reminder goes two days after the confirmation, never a second."""
    import redis

    public_campaign(app)
    configure(app, sign_min_seconds=0)
    _sign(client)
    _sign(client, email_address="lost@example.org")
    flush = redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url)
    try:
        flush.flushdb()  # the outbox's kicks lost
        with app.app_context(), get_db().transaction() as session:
            assert sweep_signatures(session).mailed == 2
        flush.flushdb()  # both mail jobs lost
    finally:
        flush.close()
    later = utcnow() + timedelta(minutes=20)
    with app.app_context(), get_db().transaction() as session:
        assert sweep_signatures(session, now=later) == SweepReport(requeued=2, mailed=2)
    with running_worker(app):
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 2, timeout=20)
        # The worker records the sending just after SMTP accepted the mail: wait for that too.
        wait_for(lambda: all(s.confirmation_sent_at for s in _signatures(app)), timeout=20)
        with app.app_context(), get_db().transaction() as session:
            report = sweep_signatures(session, now=utcnow() + timedelta(days=2, minutes=1))
        assert report.reminders == 2
        wait_for(lambda: len(read_mailbox(smtp_server.handler.maildir)) == 4, timeout=20)
        with app.app_context(), get_db().transaction() as session:
            again = sweep_signatures(session, now=utcnow() + timedelta(days=3))
        assert again == SweepReport()
    subjects = sorted(m.subject for m in read_mailbox(smtp_server.handler.maildir))
    assert sum(s.startswith("Reminder") for s in subjects) == 2
    # The reminder's link works too.
    reminder = next(
        m for m in read_mailbox(smtp_server.handler.maildir) if m.subject.startswith("Reminder")
    )
    assert _confirm(client, confirmation_link(reminder.body_text)) == 302


def test_an_expired_or_altered_confirmation_link_confirms_nothing(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link altered, made for another address, or 7 days and a minute old, is refused."""
    from outreach.supporters.tokens import ConfirmationTokens

    public_campaign(app)
    configure(app, sign_min_seconds=0)
    _sign(client)
    [sig] = _signatures(app)
    tokens = ConfirmationTokens(app.config["OUTREACH"].secret_key)
    good = tokens.make(sig.id, sig.email)
    assert client.get(f"/c/free-them/confirm/{good[:-2]}xx").status_code == 404
    assert (
        client.get(f"/c/free-them/confirm/{tokens.make(sig.id, 'other@example.org')}").status_code
        == 404
    )
    import time

    with monkeypatch.context() as m:
        eight_days_ago = time.time() - 7 * 86400 - 60
        m.setattr("itsdangerous.timed.time.time", lambda: eight_days_ago)
        old = tokens.make(sig.id, sig.email)
    assert client.get(f"/c/free-them/confirm/{old}").status_code == 404
    assert _signatures(app)[0].state == "pending"
    assert _confirm(client, f"http://x/c/free-them/confirm/{good}") == 302


def test_the_page_after_signing_holds_nothing_of_the_supporter(
    app: Flask, client: FlaskClient
) -> None:
    """The thank-you page is rendered once for a few seconds and served to every supporter in
    that time (outreach.web.public._thanks_page): two supporters get the same page, and neither
    sees the other's name or address; both signatures are stored."""
    public_campaign(app)
    configure(app, sign_min_seconds=0)
    first = _sign(client, email_address="first@example.org", name="Firstname Signer")
    second = _sign(client, email_address="second@example.org", name="Secondname Signer")
    assert first[0] == second[0] == 200
    assert first[1] == second[1]
    for text in ("first@example.org", "Firstname", "second@example.org", "Secondname"):
        assert text not in second[1]
    assert [s.email for s in _signatures(app)] == ["first@example.org", "second@example.org"]
