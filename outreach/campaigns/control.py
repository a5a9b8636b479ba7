"""Pause, resume and cancel a drive that is sending, and read its progress.

All three act on the database at once, within the request: a worker dispatches a letter only while
its campaign is `sending` (sending.dispatch), so from the commit on, no letter that was not already
on its way leaves. Nothing is lost or doubled:

* pause: the campaign becomes `paused`, and its letters not yet dispatched (pending, queued, also
  those a worker holds, and deferred) become `held`. Letters on the wire finish and are recorded.
* resume: `sending` again; the held letters are queued and enqueued (a joint message together).
* cancel: `cancelled`; every letter not yet dispatched (held ones included) becomes `cancelled`.
  Uncertain letters are left for staff to decide, as the relay may have them.

Progress (`progress`) is two indexed queries (counts per state, letters sent in the last minutes),
cheap while 100,000 letters are in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryEvent
from outreach.campaigns.reconcile import enqueue_deliveries, finish_campaigns
from outreach.campaigns.states import DeliveryState

S = DeliveryState
RATE_WINDOW = timedelta(minutes=10)


class ControlError(ValueError):
    """An action that does not apply to the campaign as it is, with the reason."""


def _move_all(
    session: Session,
    campaign_id: int,
    sources: list[DeliveryState],
    target: DeliveryState,
    *,
    actor: str,
    detail: str,
) -> list[int]:
    """Every letter of the campaign in one of `sources` to `target`, one event each."""
    now = utcnow()
    moved: list[int] = []
    for source in sources:
        ids = list(
            session.scalars(
                update(Delivery)
                .where(Delivery.campaign_id == campaign_id, Delivery.state == source.value)
                .values(state=target.value, claim_token=None, lease_expires_at=None, updated_at=now)
                .returning(Delivery.id)
            )
        )
        if ids:
            session.execute(
                insert(DeliveryEvent),
                [
                    {"delivery_id": i, "at": now, "from_state": source.value,
                     "to_state": target.value, "actor": actor, "detail": detail}
                    for i in ids
                ],
            )  # fmt: skip
        moved += ids
    return sorted(moved)


def _campaign(session: Session, campaign_id: int) -> Campaign:
    # Lock the campaign row on PostgreSQL, so two staff members' actions apply one after another.
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise ControlError("there is no such campaign")
    return campaign


def pause(session: Session, campaign_id: int, *, actor: str) -> int:
    """Stop a sending drive; returns how many letters are now held."""
    campaign = _campaign(session, campaign_id)
    if campaign.status != CampaignStatus.SENDING:
        raise ControlError(f"only a sending campaign can be paused; this one is {campaign.status}")
    campaign.status = CampaignStatus.PAUSED.value
    session.flush()
    return len(
        _move_all(
            session,
            campaign_id,
            [S.PENDING, S.QUEUED, S.DEFERRED],
            S.HELD,
            actor=actor,
            detail="campaign paused",
        )
    )


def resume(session: Session, campaign_id: int, *, actor: str, batch_size: int) -> int:
    """Send a paused drive again; returns how many letters were queued (and enqueued)."""
    campaign = _campaign(session, campaign_id)
    if campaign.status != CampaignStatus.PAUSED:
        raise ControlError(f"only a paused campaign can be resumed; this one is {campaign.status}")
    campaign.status = CampaignStatus.SENDING.value
    session.flush()
    queued = _move_all(
        session, campaign_id, [S.HELD], S.QUEUED, actor=actor, detail="campaign resumed"
    )
    enqueue_deliveries(session, queued, batch_size)
    finish_campaigns(session)  # a drive paused after its last letter finishes now
    return len(queued)


def cancel(session: Session, campaign_id: int, *, actor: str) -> int:
    """End a drive for good; returns how many letters were cancelled."""
    campaign = _campaign(session, campaign_id)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        raise ControlError(
            f"only a sending or paused campaign can be cancelled; this one is {campaign.status}"
        )
    campaign.status = CampaignStatus.CANCELLED.value
    session.flush()
    return len(
        _move_all(
            session,
            campaign_id,
            [S.PENDING, S.QUEUED, S.DEFERRED, S.HELD],
            S.CANCELLED,
            actor=actor,
            detail="campaign cancelled",
        )
    )


def set_sending_options(
    campaign: Campaign,
    *,
    pace_hours: int | None,
    office_hours: bool,
    deadline: datetime | None = None,
) -> None:
    """The drive's pace and deadline: they apply to each letter when it is dispatched or
    retried, so they may change while the drive is sending. A naive deadline is UTC."""
    if pace_hours is not None and not 1 <= pace_hours <= 24 * 60:
        raise ControlError("spread a drive over 1 to 1,440 hours")
    campaign.pace_hours = pace_hours
    campaign.office_hours = bool(office_hours)
    campaign.deadline = deadline.replace(tzinfo=deadline.tzinfo or UTC) if deadline else None


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]
    total: int
    done: int  # letters with an outcome: sent, failed, bounced, replied, cancelled
    sent_recently: int  # in the last RATE_WINDOW
    per_minute: float
    remaining: int  # letters still to go out (pending, queued, deferred, sending)
    finish_at: datetime | None  # at the recent rate; None when nothing is moving

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


def progress(session: Session, campaign_id: int, *, now: datetime | None = None) -> Progress:
    now = now or utcnow()
    counts = {
        state: int(n)
        for state, n in session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.state)
        )
    }
    recent = int(
        session.scalar(
            select(func.count()).where(
                Delivery.campaign_id == campaign_id, Delivery.sent_at >= now - RATE_WINDOW
            )
        )
        or 0
    )
    total = sum(counts.values())
    moving = [S.PENDING, S.QUEUED, S.DEFERRED, S.SENDING]
    remaining = sum(counts.get(s.value, 0) for s in moving)
    finals = [S.SENT, S.FAILED, S.BOUNCED, S.REPLIED, S.CANCELLED]
    done = sum(counts.get(s.value, 0) for s in finals)
    per_minute = recent / (RATE_WINDOW.total_seconds() / 60)
    finish_at = (
        now + timedelta(minutes=remaining / per_minute) if remaining and per_minute else None
    )
    return Progress(counts, total, done, recent, per_minute, remaining, finish_at)


# --- retrying failed letters (staff's bulk action in the delivery table) -------------------------
@dataclass(frozen=True)
class RetryResult:
    queued: int  # failed letters queued again (and enqueued)
    skipped: int  # named but left alone: not failed, part of a joint message not retried whole,
    #               or an official who can no longer be written to


def retry_failed(
    session: Session, campaign_id: int, ids: list[int], *, actor: str, batch_size: int
) -> RetryResult:
    """Send failed letters again, after staff fixed what made them fail (an address, a relay).

    `failed` → `queued` is the state machine's one way out of `failed` (states.ALLOWED), done as
    a compare-and-set with one event each, then enqueued after commit. Each letter goes to the
    official's address as the directory holds it now (the event says so when it changed), with
    its attempts counted afresh. Left alone: letters that are not failed; an official who is
    no longer sendable (inactive, do-not-contact, in review, no valid address); a member of a
    joint message unless every member of that message is failed and named (the message is one
    SMTP transaction: part of it cannot be sent again alone). A finished drive is sending again
    while its retried letters go out; a paused one must be resumed first, a cancelled one stays
    cancelled.
    """
    from contacts.audience import sendable_condition
    from contacts.models import Contact
    from outreach.campaigns.states import check_transition

    check_transition(S.FAILED, S.QUEUED)
    campaign = _campaign(session, campaign_id)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.FINISHED):
        raise ControlError(
            f"failed letters are retried in a sending or finished drive; this one is "
            f"{campaign.status}" + (" (resume it first)" if campaign.status == "paused" else "")
        )
    wanted = sorted(set(ids))
    rows: list[Any] = []
    for start in range(0, len(wanted), 500):
        rows += session.execute(
            select(
                Delivery.id,
                Delivery.group_key,
                Delivery.email,
                Contact.email,
                sendable_condition(),
            )
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(
                Delivery.campaign_id == campaign_id,
                Delivery.id.in_(wanted[start : start + 500]),
                Delivery.state == S.FAILED.value,
            )
        ).all()
    named = {r[0] for r in rows}
    keys = {r[1] for r in rows if r[1]}
    whole: set[str] = set()
    for key in keys:
        members = session.execute(
            select(Delivery.id, Delivery.state).where(
                Delivery.campaign_id == campaign_id, Delivery.group_key == key
            )
        ).all()
        if all(state == S.FAILED.value and i in named for i, state in members):
            whole.add(key)
    chosen = [r for r in rows if r[4] and (not r[1] or r[1] in whole)]
    now = utcnow()
    moved: list[int] = []
    ids_chosen = [r[0] for r in chosen]
    for start in range(0, len(ids_chosen), 500):
        moved += session.scalars(
            update(Delivery)
            .where(
                Delivery.id.in_(ids_chosen[start : start + 500]), Delivery.state == S.FAILED.value
            )
            .values(
                state=S.QUEUED.value,
                attempts=0,
                abandoned_claims=0,
                next_attempt_at=None,
                claim_token=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(Delivery.id)
        )
    done = set(moved)
    events = []
    for delivery_id, _key, old, new, _ok in chosen:
        if delivery_id not in done:
            continue
        detail = "retried by staff"
        if new and new != old:
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(email=new))
            detail += f" (address now {new}, was {old})"
        events.append(
            {"delivery_id": delivery_id, "at": now, "from_state": S.FAILED.value,
             "to_state": S.QUEUED.value, "actor": actor, "detail": detail}
        )  # fmt: skip
    if events:
        session.execute(insert(DeliveryEvent), events)
        if campaign.status == CampaignStatus.FINISHED:
            campaign.status = CampaignStatus.SENDING.value
        enqueue_deliveries(session, sorted(done), batch_size)
    return RetryResult(queued=len(done), skipped=len(wanted) - len(done))
