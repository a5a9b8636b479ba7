"""A follow-up letter: its own campaign, linked to the drive it follows, sent in the same thread.

Staff write it (subject, body, the number of days N) on the parent campaign's replies page and
schedule it. Once the parent drive has finished and N days have passed since its last letter
left, the maintenance sweep (`launch_due_followups`, from workers/maintenance.py) launches it:
one delivery for each parent letter still `sent` (not replied, not bounced, not failed) that left
at least N days ago, to the same address, carrying the parent letter's Message-ID in
`in_reply_to`. From there it is an ordinary campaign: the same paced sending engine claims,
renders (the follow-up's own template, with the usual context), sends and tracks its letters;
the only difference the engine sees is `Delivery.in_reply_to`, which the wire writer puts in
In-Reply-To and References, so the recipient's client shows the follow-up under the letter.

Only individual letters (and individual copies of a joint letter) are followed up: the members of
a joint message share one Message-ID and would need a joint follow-up; supporters' own letters
are theirs to follow up (mep_question.py asks them instead).

Four-eyes: a follow-up to more officials than OUTREACH_FOUR_EYES_THRESHOLD is scheduled only with
a second person's approval of this very letter (`fingerprint`), for at most the number of letters
approved (outreach.followups.four_eyes makes and answers the requests); the sweep checks again
when its day comes, and refuses an unapproved or edited one: it is unscheduled and the reason is
kept in `schedule_error`, shown on the follow-up's page.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from contacts.models import Contact, EmailStatus
from outreach.campaigns.approval import latest_request
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState
from outreach.jobs import SEND_BATCH, defer
from outreach.letters.render import CampaignLetter, LetterError

S = DeliveryState
FOLLOWED_ROLES = ("individual", "copy")


class FollowupError(ValueError):
    """A follow-up that cannot be written or scheduled as asked."""


def default_subject(parent: Campaign) -> str:
    subject = parent.subject_template.strip()
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def create_followup(
    session: Session,
    parent_id: int,
    *,
    subject: str,
    body: str,
    days: int,
    min_days: int,
    created_by_id: int | None = None,
) -> Campaign:
    """A draft follow-up of a launched campaign; its letter must compile."""
    parent = session.get(Campaign, parent_id)
    if parent is None:
        raise FollowupError(f"there is no campaign {parent_id}")
    if parent.parent_id is not None:
        raise FollowupError("a follow-up cannot itself be followed up: follow up the drive")
    if parent.status == CampaignStatus.DRAFT or parent.supporter_letters:
        raise FollowupError("only a launched drive of staff letters can be followed up")
    if days < min_days:
        raise FollowupError(f"a follow-up waits at least {min_days} day(s)")
    subject = subject.strip() or default_subject(parent)
    if not body.strip():
        raise FollowupError("the follow-up letter is empty")
    try:
        CampaignLetter({parent.default_language: (subject, body)}, parent.default_language)
    except LetterError as exc:
        raise FollowupError(str(exc)) from exc
    followup = Campaign(
        name=f"{parent.name} (follow-up)"[:200],
        subject_template=subject,
        body_template=body,
        audience={"contact_ids": []},  # filled at launch: who had not replied by then
        mail_from=parent.mail_from,
        default_language=parent.default_language,
        signatories=list(parent.signatories or []),
        parent_id=parent.id,
        followup_days=days,
        created_by_id=created_by_id,
    )
    session.add(followup)
    session.flush()
    return followup


def followups_of(session: Session, parent_id: int) -> list[Campaign]:
    return list(
        session.scalars(
            select(Campaign).where(Campaign.parent_id == parent_id).order_by(Campaign.id)
        )
    )


def schedule(session: Session, followup: Campaign, *, now: datetime | None = None) -> None:
    """Schedule a draft follow-up (four-eyes is the caller's: outreach.followups.four_eyes)."""
    if followup.parent_id is None or followup.status != CampaignStatus.DRAFT:
        raise FollowupError("only a draft follow-up can be scheduled")
    followup.followup_scheduled_at = now or utcnow()
    followup.schedule_error = None


def _eligible(
    session: Session, followup: Campaign, now: datetime | None
) -> list[tuple[Delivery, Contact]]:
    """The parent's letters still unanswered, sent at least the follow-up's days ago (any time
    ago: `now` None), to an address not marked bouncing since."""
    query = (
        select(Delivery, Contact)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(
            Delivery.campaign_id == followup.parent_id,
            Delivery.state == S.SENT.value,
            Delivery.role.in_(FOLLOWED_ROLES),
            Delivery.group_key.is_(None),
            Delivery.message_id.is_not(None),
        )
        .order_by(Delivery.id)
    )
    if now is not None:
        query = query.where(Delivery.sent_at <= now - timedelta(days=followup.followup_days or 0))
    rows = session.execute(query).all()
    return [
        (d, c)
        for d, c in rows
        if not (
            (c.email or "").lower() == d.email.lower()
            and c.email_status == EmailStatus.BOUNCING.value
        )
    ]


def eligible_count(session: Session, followup: Campaign, now: datetime | None = None) -> int:
    return len(_eligible(session, followup, now or utcnow()))


def reach(session: Session, followup: Campaign) -> int:
    """The most letters the follow-up can send: every letter of the parent still unanswered,
    however recent (fewer once some are answered, bounce or are too recent on its day)."""
    return len(_eligible(session, followup, None))


def fingerprint(followup: Campaign) -> str:
    """What a second person approves of a follow-up: its letter in every language, sender,
    signatories, the drive it follows and after how many days. Editing any voids an approval."""
    return hashlib.sha256(
        json.dumps(
            [
                "followup-v1",
                followup.parent_id,
                followup.letter_sources(),
                followup.default_language,
                followup.mail_from,
                followup.signatories,
                followup.followup_days,
            ],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()


def approval_refusal(
    session: Session, followup: Campaign, letters: int, *, threshold: int
) -> str | None:
    """Why sending `letters` follow-up letters now needs an approval it does not have; None
    when it may go (at most `threshold` letters, or approved for this version and count)."""
    if threshold <= 0 or letters <= threshold:
        return None
    row = latest_request(session, followup.id)
    if row is None or row.approved_at is None:
        return (
            f"{letters} letters is more than {threshold}: a second person must approve this "
            "follow-up first (on its page), then schedule it again"
        )
    if row.fingerprint != fingerprint(followup):
        return (
            "the follow-up was edited after its approval: a second person must approve it "
            "again, then schedule it again"
        )
    if letters > row.recipients:
        return (
            f"{letters} letters is more than the {row.recipients} approved: a second person "
            "must approve it again"
        )
    return None


def due_at(session: Session, followup: Campaign) -> datetime | None:
    """When the sweep launches a scheduled follow-up: N days after the parent's last letter
    left, once the parent drive is over; None while it is still sending."""
    parent = session.get(Campaign, followup.parent_id) if followup.parent_id else None
    if parent is None or parent.status not in (CampaignStatus.FINISHED, CampaignStatus.CANCELLED):
        return None
    last = session.scalar(
        select(Delivery.sent_at)
        .where(Delivery.campaign_id == parent.id, Delivery.sent_at.is_not(None))
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    )
    if last is None:
        return None
    if last.tzinfo is None:  # SQLite gives naive datetimes back
        last = last.replace(tzinfo=utcnow().tzinfo)
    return last + timedelta(days=followup.followup_days or 0)


def launch_followup(
    session: Session,
    followup: Campaign,
    *,
    actor: str,
    batch_size: int,
    now: datetime | None = None,
) -> int:
    """Make the follow-up's deliveries (queued, each in its parent letter's thread) and defer
    their sending; the caller commits. Returns how many letters will go."""
    now = now or utcnow()
    # Compare-and-set: of two sweeps at once, one launches (the other finds it taken).
    taken = session.execute(
        update(Campaign)
        .where(Campaign.id == followup.id, Campaign.status == CampaignStatus.DRAFT.value)
        .values(status=CampaignStatus.SENDING.value, launched_at=now)
        .returning(Campaign.id)
    ).scalar_one_or_none()
    if taken is None:
        raise FollowupError("this follow-up has already been launched")
    session.refresh(followup)
    eligible = _eligible(session, followup, now)
    rows = [
        {
            "campaign_id": followup.id,
            "contact_id": contact.id,
            "email": parent.email,
            "state": S.QUEUED.value,
            "role": "individual",
            "attempts": 0,
            "in_reply_to": parent.message_id,
            "created_at": now,
            "updated_at": now,
        }
        for parent, contact in eligible
    ]
    if rows:
        session.execute(insert(Delivery), rows)
    made = list(
        session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == followup.id).order_by(Delivery.id)
        )
    )
    if made:
        session.execute(
            insert(DeliveryEvent),
            [
                {
                    "delivery_id": i,
                    "at": now,
                    "to_state": S.QUEUED.value,
                    "actor": actor,
                    "detail": "follow-up launched",
                }
                for i in made
            ],
        )
    for start in range(0, len(made), batch_size):
        defer(session, SEND_BATCH, made[start : start + batch_size])
    followup.audience = {"contact_ids": [contact.id for _, contact in eligible]}
    if not made:
        followup.status = CampaignStatus.FINISHED.value
    return len(made)


@dataclass(frozen=True)
class SweepResult:
    launched: dict[int, int]  # follow-up id: letters
    refused: dict[int, str] = field(default_factory=dict)  # follow-up id: why


def launch_due_followups(
    session: Session, *, batch_size: int, now: datetime | None = None, four_eyes_threshold: int = 0
) -> SweepResult:
    """Launch every scheduled follow-up whose time has come (the maintenance sweep). One that
    needs a second person's approval it lacks is unscheduled, with the reason on its page."""
    now = now or utcnow()
    launched: dict[int, int] = {}
    refused: dict[int, str] = {}
    waiting = session.scalars(
        select(Campaign).where(
            Campaign.parent_id.is_not(None),
            Campaign.status == CampaignStatus.DRAFT.value,
            Campaign.followup_scheduled_at.is_not(None),
        )
    ).all()
    for followup in waiting:
        due = due_at(session, followup)
        if due is not None and due <= now:
            why = approval_refusal(
                session,
                followup,
                eligible_count(session, followup, now),
                threshold=four_eyes_threshold,
            )
            if why is not None:
                followup.followup_scheduled_at = None
                followup.schedule_error = (
                    f"Not launched at its time ({now:%d %b %Y %H:%M} UTC): {why}"
                )
                refused[followup.id] = why
                continue
            try:
                launched[followup.id] = launch_followup(
                    session, followup, actor="followup-sweep", batch_size=batch_size, now=now
                )
            except FollowupError:
                continue  # launched by another sweep meanwhile
    return SweepResult(launched, refused)
