"""The reconciler: the database is the truth, and this makes the queue agree with it.

Run periodically (workers/maintenance.py). Each pass:
1. `sending` deliveries whose lease has expired (a worker died between dispatching and recording)
   become `uncertain`: the letter may have gone out, so it is never resent automatically; staff
   decide with "resend" or "mark sent". `queued` deliveries whose claim expired (a worker died
   holding them, before dispatch: nothing left) are queued again; a letter abandoned this way
   MAX_ABANDONED times (it stops its worker every time: a poison letter) becomes `failed`.
2. `deferred` deliveries whose next attempt is due go back to `queued` and are enqueued again;
   after MAX_ATTEMPTS attempts (about a day of backoff), or once their campaign's deadline has
   passed, they become `failed` instead.
3. `queued` deliveries untouched for a while are enqueued again: their job may have been lost
   (Redis restarted, an enqueue failed after commit). A duplicate job is harmless: the claim is a
   compare-and-set on `queued`, so the second job finds nothing to claim. But while the sending
   queue still holds jobs, a letter untouched for minutes is most likely waiting its turn behind a
   big drive, not lost: the caller then passes `requeue_stale=False` (workers/maintenance.py reads
   the queue's length), and the letters are looked at again once the queue has drained. At most
   STALE_PER_PASS letters are enqueued again per pass, so a pass stays small in memory.
Staff's decisions on uncertain deliveries are here too, with their events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

import outreach.api.webhooks  # outgoing webhooks of this module's events
from contacts.base import utcnow
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState, TransitionError, check_transition
from outreach.jobs import SEND_BATCH, defer

S = DeliveryState
STALE_QUEUED = timedelta(minutes=5)
STALE_PER_PASS = 10_000
MAX_ATTEMPTS = 10
MAX_ABANDONED = 3
ACTOR = "reconciler"


@dataclass
class ReconcileReport:
    uncertain: int = 0
    retried: int = 0
    failed: int = 0
    requeued: int = 0
    abandoned: int = 0
    poisoned: int = 0

    def __str__(self) -> str:
        return (
            f"{self.uncertain} expired lease(s) flagged uncertain, {self.retried} deferred "
            f"delivery(ies) due again, {self.failed} given up, {self.requeued} queued "
            f"delivery(ies) enqueued again, {self.abandoned} abandoned claim(s) queued again, "
            f"{self.poisoned} poison letter(s) failed"
        )


def _move(
    session: Session,
    ids: Sequence[int],
    source: S,
    target: S,
    now: datetime,
    detail: str,
    actor: str,
) -> list[int]:
    """Compare-and-set `source` → `target` for these ids, with one event each."""
    if not ids:
        return []
    moved = list(
        session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(list(ids)), Delivery.state == source.value)
            .values(state=target.value, lease_expires_at=None, updated_at=now)
            .returning(Delivery.id)
        )
    )
    if moved:
        session.execute(
            insert(DeliveryEvent),
            [
                {
                    "delivery_id": i,
                    "at": now,
                    "from_state": source.value,
                    "to_state": target.value,
                    "actor": actor,
                    "detail": detail,
                }
                for i in moved
            ],
        )
    return moved


def enqueue_deliveries(session: Session, ids: list[int], batch_size: int) -> None:
    """Jobs for these deliveries: the members of a joint message together, in one job (as at
    launch), the others in batches."""
    if not ids:
        return
    singles: list[int] = []
    groups: dict[str, list[int]] = {}
    for delivery_id, group_key in session.execute(
        select(Delivery.id, Delivery.group_key).where(Delivery.id.in_(ids)).order_by(Delivery.id)
    ):
        if group_key:
            groups.setdefault(group_key, []).append(delivery_id)
        else:
            singles.append(delivery_id)
    for start in range(0, len(singles), batch_size):
        defer(session, SEND_BATCH, singles[start : start + batch_size])
    for members in groups.values():
        defer(session, SEND_BATCH, members)


def _abandoned_claims(session: Session, now: datetime, report: ReconcileReport) -> list[int]:
    """Queued letters whose worker stopped holding them before dispatch: nothing left, so they
    are free again (returned, to be enqueued), or failed after MAX_ABANDONED such stops."""
    rows = session.execute(
        select(Delivery.id, Delivery.abandoned_claims).where(
            Delivery.state == S.QUEUED.value,
            Delivery.claim_token.is_not(None),
            Delivery.lease_expires_at < now,
        )
    ).all()
    if not rows:
        return []
    ids = [i for i, _ in rows]
    # The claim counted as an attempt; it was not one: no SMTP transaction began.
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == S.QUEUED.value)
        .values(
            claim_token=None,
            lease_expires_at=None,
            abandoned_claims=Delivery.abandoned_claims + 1,
            attempts=Delivery.attempts - 1,
            updated_at=now,
        )
    )
    poison = [i for i, stops in rows if stops + 1 >= MAX_ABANDONED]
    report.poisoned = len(
        _move(
            session,
            poison,
            S.QUEUED,
            S.FAILED,
            now,
            f"its worker stopped {MAX_ABANDONED} times while holding it, before sending it "
            "(a letter that stops its worker): not sent",
            ACTOR,
        )
    )
    free = sorted(set(ids) - set(poison))
    report.abandoned = len(free)
    return free


def reconcile(
    session: Session,
    *,
    batch_size: int,
    now: datetime | None = None,
    stale_after: timedelta = STALE_QUEUED,
    requeue_stale: bool = True,
    stale_limit: int = STALE_PER_PASS,
) -> ReconcileReport:
    """One pass; the caller commits (the jobs are enqueued after the commit). With
    `requeue_stale` False, step 3 is skipped (the sending queue still holds jobs)."""
    now = now or utcnow()
    report = ReconcileReport()
    expired = list(
        session.scalars(
            select(Delivery.id).where(
                Delivery.state == S.SENDING.value, Delivery.lease_expires_at < now
            )
        )
    )
    report.uncertain = len(
        _move(
            session,
            expired,
            S.SENDING,
            S.UNCERTAIN,
            now,
            "lease expired: the worker stopped mid-send",
            ACTOR,
        )
    )
    late = list(
        session.scalars(
            select(Delivery.id)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Delivery.state == S.DEFERRED.value, Campaign.deadline < now)
        )
    )
    report.failed = len(
        _move(session, late, S.DEFERRED, S.FAILED, now, "past the campaign's deadline", ACTOR)
    )
    due = session.execute(
        select(Delivery.id, Delivery.attempts).where(
            Delivery.state == S.DEFERRED.value, Delivery.next_attempt_at <= now
        )
    ).all()
    give_up = [i for i, attempts in due if attempts >= MAX_ATTEMPTS]
    report.failed += len(
        _move(
            session,
            give_up,
            S.DEFERRED,
            S.FAILED,
            now,
            f"gave up after {MAX_ATTEMPTS} attempts",
            ACTOR,
        )
    )
    retry = [i for i, attempts in due if attempts < MAX_ATTEMPTS]
    retried = _move(
        session, retry, S.DEFERRED, S.QUEUED, now, "retry after a temporary failure", ACTOR
    )
    report.retried = len(retried)
    abandoned = _abandoned_claims(session, now, report)
    stale: list[int] = []
    if requeue_stale:
        stale = list(
            session.scalars(
                select(Delivery.id)
                .where(
                    Delivery.state == S.QUEUED.value,
                    Delivery.claim_token.is_(None),
                    Delivery.updated_at < now - stale_after,
                )
                .order_by(Delivery.id)
                .limit(stale_limit)
            )
        )
    for start in range(0, len(stale), 1000):  # bounded IN lists
        chunk = stale[start : start + 1000]
        session.execute(update(Delivery).where(Delivery.id.in_(chunk)).values(updated_at=now))
    report.requeued = len(stale)
    enqueue_deliveries(session, sorted(set(retried + abandoned + stale)), batch_size)
    finish_campaigns(session)
    return report


def finish_campaigns(session: Session) -> int:
    """Campaigns still `sending` whose every delivery has reached an outcome become `finished`
    (the reconciler may have given up the last ones, or staff marked them sent)."""
    open_states = [
        s.value for s in (S.PENDING, S.QUEUED, S.SENDING, S.DEFERRED, S.UNCERTAIN, S.HELD)
    ]
    busy = select(Delivery.campaign_id).where(Delivery.state.in_(open_states))
    done = list(
        session.scalars(
            update(Campaign)
            .where(Campaign.status == CampaignStatus.SENDING.value, Campaign.id.not_in(busy))
            .values(status=CampaignStatus.FINISHED.value)
            .returning(Campaign.id)
        )
    )
    outreach.api.webhooks.emit_finished(session, done)
    return len(done)


class ResolveError(ValueError):
    pass


def resolve_uncertain(
    session: Session, ids: Sequence[int], *, action: str, actor: str, batch_size: int
) -> int:
    """Staff's decision on uncertain deliveries: "resend" (queued again, and enqueued) or
    "mark_sent" (the relay's log shows it went out). Returns how many were changed."""
    targets = {"resend": S.QUEUED, "mark_sent": S.SENT}
    if action not in targets:
        raise ResolveError("choose resend or mark sent")
    try:
        check_transition(S.UNCERTAIN, targets[action])
    except TransitionError as exc:  # pragma: no cover - the table allows both
        raise ResolveError(str(exc)) from exc
    now = utcnow()
    detail = "resent by staff" if action == "resend" else "marked sent by staff"
    moved = _move(session, ids, S.UNCERTAIN, targets[action], now, detail, actor)
    if action == "mark_sent" and moved:
        session.execute(update(Delivery).where(Delivery.id.in_(moved)).values(sent_at=now))
    if action == "resend":
        enqueue_deliveries(session, moved, batch_size)
    finish_campaigns(session)
    return len(moved)
