""" "Did your MEP reply?": asking supporters who sent their own letters, and keeping their answer.

A supporter's own letters (deliveries of role `supporter`) are sent From them with Reply-To them
(outreach.supporters.letters): the MEP's answer goes to the supporter, never to us. So, some days
(OUTREACH_MEP_REPLY_QUESTION_DAYS, 14) after their letters left, the maintenance sweep
(`sweep_questions`) makes one question row per letter and defers one mail per supporter, which
lists their letters with three signed links each: yes, no, not sure. A link opens a page with
one button (mail scanners open links; an answer should not be recorded because one did), whose
POST records the answer on the row, shown to staff on the campaign's replies page. The mail is
supporter mail like the others: List-Unsubscribe with RFC 8058 one-click; an unsubscribed or
withdrawn supporter is not asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Final

from flask import render_template
from flask_babel import force_locale, format_date
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.models import SUPPORTER_ROLE, Campaign, Delivery
from outreach.jobs import Job, defer
from outreach.mail.identity import MessageIdentity
from outreach.mail.message import build_supporter_mail, new_message_id, parse_address
from outreach.supporters.models import Signature, SignatureState
from outreach.tracking.models import MepReplyAnswer, MepReplyQuestion

# One question mail: args (signature id,).
MEP_REPLY_MAIL: Final = Job("mep_reply_mail", "supporters")
ANSWER_LABELS: Final = {
    MepReplyAnswer.YES.value: "yes",
    MepReplyAnswer.NO.value: "no",
    MepReplyAnswer.UNSURE.value: "not sure",
}
LOST_JOB: Final = timedelta(hours=1)
ASKED_STATES: Final = ("sent", "replied")


class AnswerTokens:
    """`[question id, answer]` signed (no expiry: a late answer is still an answer)."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="outreach.mep-reply-answer")

    def make(self, question_id: int, answer: str) -> str:
        return str(self._serializer.dumps([question_id, answer]))

    def read(self, token: str) -> tuple[int, str] | None:
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            return None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], int)
            or value[1] not in ANSWER_LABELS
        ):
            return None
        return value[0], value[1]


def answer_url(base_url: str, token: str, language: str = "en") -> str:
    """The answer page's address; in the supporter's language (the page's ?lang= switch), so
    the page and its button speak as the mail did whatever the browser prefers."""
    url = f"{base_url.rstrip('/')}/mep-reply/{token}"
    return url if language == "en" else f"{url}?lang={language}"


def sweep_questions(session: Session, *, days: int, now: datetime | None = None) -> list[int]:
    """Make the question rows of supporters' letters sent `days` ago or more, and defer one
    mail per supporter asked (again, for a mail whose job was lost). The signature ids mailed."""
    if days <= 0:
        return []
    now = now or utcnow()
    asked = select(MepReplyQuestion.delivery_id)
    letters = session.execute(
        select(Delivery.id, Delivery.signature_id)
        .join(Signature, Signature.id == Delivery.signature_id)
        .where(
            Delivery.role == SUPPORTER_ROLE,
            Delivery.state.in_(ASKED_STATES),
            Delivery.sent_at <= now - timedelta(days=days),
            Delivery.id.not_in(asked),
            Signature.state == SignatureState.CONFIRMED.value,
            Signature.unsubscribed_at.is_(None),
            Signature.withdrawn_at.is_(None),
        )
        .order_by(Delivery.id)
        .limit(5000)
    ).all()
    if letters:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(MepReplyQuestion)
            .values([{"delivery_id": d, "signature_id": s, "created_at": now} for d, s in letters])
            .on_conflict_do_nothing(index_elements=["delivery_id"])
        )
    lost = session.scalars(
        select(MepReplyQuestion.signature_id)
        .where(
            MepReplyQuestion.asked_at.is_(None),
            MepReplyQuestion.created_at < now - LOST_JOB,
            MepReplyQuestion.signature_id.is_not(None),
        )
        .distinct()
    ).all()
    signatures = sorted({s for _, s in letters if s is not None} | {s for s in lost if s})
    for signature_id in signatures:
        defer(session, MEP_REPLY_MAIL, signature_id)
    return signatures


@dataclass(frozen=True)
class QuestionMail:
    message: EmailMessage
    address: str
    question_ids: list[int]


def build_question_mail(
    session: Session,
    signature_id: int,
    *,
    identity: MessageIdentity,
    tokens: AnswerTokens,
    default_from: str,
) -> QuestionMail | None:
    """The mail asking about the supporter's letters not yet asked about; None when there is
    nothing to ask (asked already, unsubscribed, withdrawn, erased). Needs an app context."""
    signature = session.get(Signature, signature_id)
    if (
        signature is None
        or signature.unsubscribed_at is not None
        or signature.withdrawn_at is not None
        or signature.state != SignatureState.CONFIRMED
    ):
        return None
    rows = session.execute(
        select(MepReplyQuestion, Contact, Delivery.sent_at)
        .join(Delivery, Delivery.id == MepReplyQuestion.delivery_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(MepReplyQuestion.signature_id == signature_id, MepReplyQuestion.asked_at.is_(None))
        .order_by(MepReplyQuestion.id)
    ).all()
    if not rows:
        return None
    # The day their first letter left, named in the mail (in their language's words).
    sent = [at for _q, _c, at in rows if at is not None]
    first_sent = min(sent) if sent else utcnow()
    campaign = session.get(Campaign, signature.campaign_id)
    assert campaign is not None
    letters = [
        {
            "name": contact.display_name,
            "links": {
                label: answer_url(
                    identity.base_url, tokens.make(question.id, answer), signature.language
                )
                for answer, label in ANSWER_LABELS.items()
            },
        }
        for question, contact, _at in rows
    ]
    with force_locale(signature.language):
        context = {
            "signature": signature,
            "campaign": campaign,
            "letters": letters,
            "sent_on": format_date(first_sent, "long"),
        }
        subject = render_template("emails/mep_reply_question/subject.txt", **context)
        text = render_template("emails/mep_reply_question/body.txt", **context)
    sender = campaign.mail_from or default_from
    message = build_supporter_mail(
        from_addr=sender,
        to_addr=signature.email,
        to_name=signature.name,
        subject=" ".join(subject.split()),
        text=text.strip() + "\n",
        message_id=new_message_id(parse_address(sender, "From").domain),
        unsubscribe=identity.unsubscribe_for(signature.id),
        language=signature.language,
    )
    return QuestionMail(message, signature.email, [q.id for q, _c, _at in rows])


def mark_asked(session: Session, question_ids: Sequence[int], now: datetime | None = None) -> None:
    for question in session.scalars(
        select(MepReplyQuestion).where(MepReplyQuestion.id.in_(list(question_ids)))
    ):
        question.asked_at = question.asked_at or now or utcnow()


@dataclass(frozen=True)
class QuestionView:
    question: MepReplyQuestion
    mep: str
    campaign: Campaign


def question_view(session: Session, question_id: int) -> QuestionView | None:
    row = session.execute(
        select(MepReplyQuestion, Contact, Campaign)
        .join(Delivery, Delivery.id == MepReplyQuestion.delivery_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(MepReplyQuestion.id == question_id)
    ).first()
    return None if row is None else QuestionView(row[0], row[1].display_name, row[2])


def record_answer(
    session: Session, question: MepReplyQuestion, answer: str, now: datetime | None = None
) -> None:
    """The supporter's answer (the last one counts: they may correct it)."""
    if answer not in ANSWER_LABELS:
        raise ValueError(f"unknown answer {answer!r}")
    question.answer = answer
    question.answered_at = now or utcnow()


@dataclass(frozen=True)
class AnswerRow:
    mep: str
    country: str
    supporter: str | None
    answer: str | None
    answered_at: datetime | None


def answers_for_campaign(
    session: Session, campaign_id: int
) -> tuple[dict[str, int], list[AnswerRow]]:
    """({answer or "unanswered": count}, the answered rows, newest first) for staff."""
    counts = {
        (answer or "unanswered"): n
        for answer, n in session.execute(
            select(MepReplyQuestion.answer, func.count())
            .join(Delivery, Delivery.id == MepReplyQuestion.delivery_id)
            .where(Delivery.campaign_id == campaign_id, MepReplyQuestion.asked_at.is_not(None))
            .group_by(MepReplyQuestion.answer)
        ).all()
    }
    rows = session.execute(
        select(MepReplyQuestion, Contact, Signature.name)
        .join(Delivery, Delivery.id == MepReplyQuestion.delivery_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .outerjoin(Signature, Signature.id == MepReplyQuestion.signature_id)
        .where(Delivery.campaign_id == campaign_id, MepReplyQuestion.answer.is_not(None))
        .order_by(MepReplyQuestion.answered_at.desc())
        .limit(500)
    ).all()
    return counts, [
        AnswerRow(c.display_name, c.country_code or "", name, q.answer, q.answered_at)
        for q, c, name in rows
    ]
