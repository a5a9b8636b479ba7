"""Follow-ups end to end through the real SMTP server and a real worker: a follow-up letter goes,
in the letter's thread, only to the officials who have not replied; a supporter who wrote to
their MEPs is asked whether they replied, and their one-click answer is recorded for staff."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select

from contacts.base import utcnow
from outreach.campaigns.models import Campaign, Delivery
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from outreach.followups.followup import launch_due_followups
from outreach.followups.mep_question import sweep_questions
from outreach.tracking.models import MepReplyQuestion
from tests.conftest import running_worker, wait_for
from tests.test_replies import deliver, login_as, post, sent_campaign, wait_processed
from tests.test_supporters_letters import letters_campaign, maltese_meps, supporter_writes


def _wait_until_sent(app: Flask, maildir: Path, letters: int) -> None:
    """The server has received the supporter's letters, and the worker recorded them sent."""
    wait_for(lambda: len(read_mailbox(maildir)) == letters)

    def sent() -> bool:
        with app.app_context(), get_db().transaction() as s:
            return set(s.scalars(select(Delivery.state))) == {"sent"}

    wait_for(sent)


def test_a_follow_up_goes_in_the_thread_to_those_who_have_not_replied(
    app: Flask,
    smtp_server: CaptureServer,
    worker: object,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    """Of three letters, one is answered. A campaigner writes a follow-up (after 5 days) and
    schedules it: the sweep launches nothing before its day, then on its day the worker sends
    exactly two letters, to the two who did not reply, each with In-Reply-To and References
    naming the Message-ID of that official's own letter and the subject "Re: Free them"; the
    follow-up's deliveries are tracked like any letters (sent, with their own Message-IDs), and
    a reply to one makes both it and the letter it followed up replied."""
    campaign_id, deliveries = sent_campaign(app, smtp_server)
    letters = {m.envelope_to[0]: m for m in read_mailbox(smtp_server.handler.maildir)}
    answered = deliveries[0]
    reply_to = str(letters[answered.email].message["Reply-To"])
    deliver(
        smtp_server, reply_to,
        f"From: <{answered.email}>\nTo: <{reply_to}>\nMessage-ID: <yes-1@ep.example>\n"
        "Subject: Re: Free them\n\nI will sign the call.\n",
    )  # fmt: skip
    wait_processed(app, 1)

    staff = login_as(app, make_user, "campaigner")
    page = f"/campaigns/{campaign_id}/replies"
    assert "Re: Free them" in staff.get(page).get_data(as_text=True)  # the suggested subject
    written = post(
        staff, page, f"/campaigns/{campaign_id}/followups", subject="Re: Free them",
        body="{{ salutation }}\n\nMay we ask again for your support?", days=5,
    )  # fmt: skip
    assert 'id="eligible">0<' in written  # no letter is 5 days old yet
    with app.app_context(), get_db().transaction() as session:
        followup_id = session.scalars(
            select(Campaign.id).where(Campaign.parent_id == campaign_id)
        ).one()
    post(staff, f"/followups/{followup_id}", f"/followups/{followup_id}/schedule")

    with app.app_context(), get_db().transaction() as session:
        assert launch_due_followups(session, batch_size=10).launched == {}  # not its day yet
    with app.app_context(), get_db().transaction() as session:
        later = utcnow() + timedelta(days=5, minutes=1)
        assert launch_due_followups(session, batch_size=10, now=later).launched == {followup_id: 2}
    with app.app_context(), get_db().transaction() as session:
        assert launch_due_followups(session, batch_size=10, now=later).launched == {}  # once

    maildir = smtp_server.handler.maildir
    wait_for(lambda: len(read_mailbox(maildir)) == 5)
    followups = [m for m in read_mailbox(maildir) if m.message["In-Reply-To"]]
    parents = {d.email: d.message_id for d in deliveries}
    assert sorted(m.envelope_to[0] for m in followups) == sorted(d.email for d in deliveries[1:])
    for mail in followups:
        parent = parents[mail.envelope_to[0]]
        assert str(mail.message["In-Reply-To"]) == parent
        assert str(mail.message["References"]) == parent
        assert mail.subject == "Re: Free them"
        assert "May we ask again for your support?" in mail.body_text
        assert str(mail.message["Message-ID"]) != parent
    with app.app_context():

        def tracked() -> bool:
            with get_db().transaction() as s:
                rows = s.scalars(select(Delivery).where(Delivery.campaign_id == followup_id))
                return sorted((d.state, d.in_reply_to or "") for d in rows) == sorted(
                    ("sent", parents[d.email]) for d in deliveries[1:]
                )

        wait_for(tracked)
        with get_db().transaction() as s:
            answered_followup = s.scalars(
                select(Delivery).where(Delivery.campaign_id == followup_id).order_by(Delivery.id)
            ).first()
            assert answered_followup is not None
            email, thread = answered_followup.email, answered_followup.message_id
    late = next(m for m in followups if m.envelope_to[0] == email)
    deliver(
        smtp_server, str(late.message["Reply-To"]),
        f"From: <{email}>\nTo: <x@example.org>\nMessage-ID: <late-1@ep.example>\n"
        f"In-Reply-To: {thread}\nSubject: Re: Free them\n\nSorry for the delay: yes.\n",
    )  # fmt: skip
    wait_processed(app, 2)
    with app.app_context(), get_db().transaction() as session:
        states = {(d.campaign_id, d.email): d.state for d in session.scalars(select(Delivery))}
    assert states[(followup_id, email)] == "replied"
    assert states[(campaign_id, email)] == "replied"  # the drive's letter is answered too


def test_a_supporter_is_asked_whether_their_mep_replied_and_the_answer_is_recorded(
    app: Flask, smtp_server: CaptureServer, make_user: Callable[..., tuple[str, str]]
) -> None:
    """After a supporter's two letters to Maltese MEPs went out, the sweep 14 days later sends
    one question mail (with RFC 8058 List-Unsubscribe) listing both MEPs with yes / no / not
    sure links. Opening a link records nothing; its button records the answer, shown to staff on
    the campaign's replies page. A forged link is refused; a second sweep asks no more."""
    campaign_id = letters_campaign(app)
    meps = maltese_meps(app, campaign_id)[:2]
    supporter_writes(app, campaign_id, "ana@example.org", [m.id for m in meps])
    maildir = smtp_server.handler.maildir
    with running_worker(app):
        _wait_until_sent(app, maildir, 2)
        with app.app_context():
            with get_db().transaction() as session:
                assert sweep_questions(session, days=14) == []  # too early
            with get_db().transaction() as session:
                asked = sweep_questions(
                    session, days=14, now=utcnow() + timedelta(days=14, minutes=1)
                )
            assert len(asked) == 1
            wait_for(lambda: len(read_mailbox(maildir)) == 3)

            def recorded() -> bool:
                with get_db().transaction() as s:
                    return set(s.scalars(select(MepReplyQuestion.asked_at))) != {None}

            wait_for(recorded)
            with get_db().transaction() as session:
                again = sweep_questions(session, days=14, now=utcnow() + timedelta(days=15))
            assert again == []
    [question] = [m for m in read_mailbox(maildir) if m.subject.startswith("Did your MEP reply?")]
    assert question.envelope_to == ["ana@example.org"]
    assert question.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in str(question.message["List-Unsubscribe"])
    text = question.body_text
    for mep in meps:
        assert mep.display_name in text
    first_block = text.split(meps[0].display_name, 1)[1]
    yes_url = re.search(r"Yes, they replied: (\S+)", first_block)
    assert yes_url is not None
    path = urlsplit(yes_url.group(1)).path

    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    assert "Record my answer: yes" in page.get_data(as_text=True)
    with app.app_context():
        assert set(get_db().session.scalars(select(MepReplyQuestion.answer))) == {None}
    done = client.post(path)
    assert "is recorded: yes" in done.get_data(as_text=True)
    assert client.post(path[:-3] + "abc").status_code == 404  # altered signature
    with app.app_context(), get_db().transaction() as session:
        answers = {(q.delivery_id, q.answer) for q in session.scalars(select(MepReplyQuestion))}
        first_letter = session.scalars(
            select(Delivery.id).where(Delivery.contact_id == meps[0].id)
        ).one()
    assert (first_letter, "yes") in answers
    assert len(answers) == 2

    staff = login_as(app, make_user, "viewer")
    shown = staff.get(f"/campaigns/{campaign_id}/replies").get_data(as_text=True)
    assert "Yes: <b>1</b>" in shown
    assert "Ana Example" in shown
    assert meps[0].display_name in shown


def test_the_mep_reply_question_speaks_the_supporters_language(
    app: Flask, smtp_server: CaptureServer
) -> None:
    """A supporter who signed in French gets the question mail in French (subject, text with the
    day their letter left as French writes dates, answer words) with links that open the answer page in French, whatever the browser asks for; its
    button records the answer and says so in French. The same page in German (the language
    switch, ?lang=de) asks and thanks in German."""
    from outreach.supporters.models import Signature

    campaign_id = letters_campaign(app)
    meps = maltese_meps(app, campaign_id)[:1]
    signature_id = supporter_writes(app, campaign_id, "lea@example.org", [meps[0].id])
    with app.app_context(), get_db().transaction() as session:
        signature = session.get(Signature, signature_id)
        assert signature is not None
        signature.language = "fr"
    maildir = smtp_server.handler.maildir
    with running_worker(app):
        _wait_until_sent(app, maildir, 1)
        with app.app_context(), get_db().transaction() as session:
            later = utcnow() + timedelta(days=14, minutes=1)
            assert sweep_questions(session, days=14, now=later) == [signature_id]
        wait_for(lambda: len(read_mailbox(maildir)) == 2)
    [question] = [m for m in read_mailbox(maildir) if "députés européens" in m.subject]
    assert question.subject.startswith("Vos députés européens vous ont-ils répondu ?")
    assert question.envelope_to == ["lea@example.org"]
    text = question.body_text
    from babel.dates import format_date

    with app.app_context():
        sent_at = get_db().session.scalars(select(Delivery.sent_at)).one()
    sent_on = format_date(sent_at, "long", locale="fr")  # the letter's day, "29 novembre 2026"
    assert f"Le {sent_on}, vous avez écrit à vos députés européens" in text
    assert "Nous ne vous posons la question qu'une seule fois." in text
    assert "Did your MEP reply" not in text
    assert "Yes, they replied" not in text
    yes_url = re.search(r"Oui, j'ai reçu une réponse : (\S+)", text)
    assert yes_url is not None
    link = urlsplit(yes_url.group(1))
    assert link.query == "lang=fr"
    url = f"{link.path}?{link.query}"

    client = app.test_client()
    english_browser = {"Accept-Language": "en-GB,en;q=0.9"}
    page = client.get(url, headers=english_browser).get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert f"Avez-vous reçu une réponse de {meps[0].display_name} ?" in page
    assert "Enregistrer ma réponse : oui" in page
    done = client.post(url, headers=english_browser).get_data(as_text=True)
    assert f"Votre réponse au sujet de {meps[0].display_name} est enregistrée : oui." in done
    with app.app_context():
        assert list(get_db().session.scalars(select(MepReplyQuestion.answer))) == ["yes"]

    german = client.get(f"{link.path}?lang=de", headers=english_browser).get_data(as_text=True)
    assert f"Haben Sie eine Antwort von {meps[0].display_name} erhalten?" in german
    assert "Meine Antwort speichern: ja" in german
