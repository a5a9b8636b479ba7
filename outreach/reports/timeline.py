"""Deliveries by state over time: where a drive's letters stood, period by period.

Per campaign (`campaign_timeline`), each letter's path is read from its own row: it waits from
`created_at`, is `sent` from `sent_at`, and reaches its present state (replied, bounced, failed,
uncertain, cancelled) at `updated_at` (the last change of a row in one of those states is the move
into it: they change no further, except bounced → replied). Three grouped queries count those
moves per period (one grouped pass); the running sums give, for every period, how many letters were in each state.
What this cannot see: a letter deferred and retried counts as waiting the whole time, and one
that was uncertain before a reply came counts as waiting until the reply.

For every drive (`recent_activity`, the dashboard), the same moves counted per day over the last
weeks: letters sent, answered, bounced, failed and made uncertain that day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.campaigns.models import Delivery
from outreach.reports.periods import bucket, number_of, start_of, width_for

# The states a picture shows, bottom layer first; `waiting` is queued, deferred, held, sending.
LAYERS = ("replied", "sent", "bounced", "failed", "uncertain", "cancelled", "waiting")
ENDINGS = ("replied", "bounced", "failed", "uncertain", "cancelled")
FLOWS = ("sent", "replied", "bounced", "failed", "uncertain")


@dataclass(frozen=True)
class Timeline:
    width: timedelta
    times: list[datetime]
    series: dict[str, list[int]]  # state -> one count per period

    @property
    def empty(self) -> bool:
        return not self.times


def campaign_timeline(
    session: Session, campaign_id: int, *, now: datetime | None = None
) -> Timeline:
    now = now or utcnow()
    mine = Delivery.campaign_id == campaign_id
    first, last_change, last_sent = session.execute(
        select(func.min(Delivery.created_at), func.max(Delivery.updated_at), func.max(Delivery.sent_at)).where(mine)
    ).one()  # fmt: skip
    if first is None:
        return Timeline(timedelta(hours=1), [], {s: [] for s in LAYERS})
    last = max(m for m in (last_change, last_sent) if m is not None)
    width = width_for(_naive(last) - _naive(first))
    start, end = number_of(first, width), number_of(last, width)

    # One pass: every combination of state and the periods of the three moments, counted.
    moves: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    created = bucket(session, Delivery.created_at, width)
    sent = bucket(session, Delivery.sent_at, width)
    changed = bucket(session, Delivery.updated_at, width)
    for state, c, s, u, count in session.execute(
        select(Delivery.state, created, sent, changed, func.count())
        .where(mine)
        .group_by(Delivery.state, created, sent, changed)
    ):
        moves[c]["waiting"] += count
        if s is not None:
            moves[s]["waiting"] -= count
            moves[s]["sent"] += count
        if state in ENDINGS:
            moves[u]["sent" if s is not None else "waiting"] -= count
            moves[u][state] += count

    running = dict.fromkeys(LAYERS, 0)
    times: list[datetime] = []
    series: dict[str, list[int]] = {s: [] for s in LAYERS}
    for n in range(start, end + 1):
        for state, delta in moves.get(n, {}).items():
            running[state] += delta
        times.append(start_of(n, width))
        for state in LAYERS:
            series[state].append(max(running[state], 0))
    return Timeline(width, times, series)


def recent_activity(session: Session, *, days: int = 30, now: datetime | None = None) -> Timeline:
    """Letters sent, answered, bounced, failed and made uncertain per day, every drive."""
    now = now or utcnow()
    width = timedelta(days=1)
    since = now - timedelta(days=days - 1)
    since = since.replace(hour=0, minute=0, second=0, microsecond=0)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sent = bucket(session, Delivery.sent_at, width)
    changed = bucket(session, Delivery.updated_at, width)
    first = number_of(since, width)
    # One pass over the rows that moved in the window (sent in it, or changed in it).
    for state, s, u, count in session.execute(
        select(Delivery.state, sent, changed, func.count())
        # A letter sent in the window was changed in it too: updated_at is set with sent_at.
        .where(Delivery.updated_at >= since)
        .group_by(Delivery.state, sent, changed)
    ):
        if s is not None and s >= first:
            counts[s]["sent"] += count
        if state in FLOWS[1:] and u >= first:
            counts[u][state] += count
    start, end = number_of(since, width), number_of(now, width)
    times = [start_of(n, width) for n in range(start, end + 1)]
    series = {s: [counts.get(n, {}).get(s, 0) for n in range(start, end + 1)] for s in FLOWS}
    return Timeline(width, times, series)


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)
