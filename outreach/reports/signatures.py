"""Supporters' signatures per day: how many signed, and how many confirmed, each day.

Two grouped queries on `signatures` (the campaign-state index narrows them to one campaign):
signatures made per day of `created_at` (withdrawn and rejected ones left out: they count for
nothing), and confirmations per day of `confirmed_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.reports.periods import bucket, number_of, start_of
from outreach.supporters.models import Signature

DAY = timedelta(days=1)
COUNTED = ("pending", "confirmed", "held")


@dataclass(frozen=True)
class SignatureDays:
    times: list[datetime]
    signed: list[int]
    confirmed: list[int]

    @property
    def total_confirmed(self) -> int:
        return sum(self.confirmed)


def per_day(
    session: Session,
    campaign_id: int | None = None,
    *,
    days: int | None = None,
    now: datetime | None = None,
) -> SignatureDays:
    """Per day from the first signature (or the last `days` days) to today."""
    now = now or utcnow()
    where: list[ColumnElement[bool]] = [Signature.state.in_(COUNTED)]
    if campaign_id is not None:
        where.append(Signature.campaign_id == campaign_id)
    if days is not None:
        since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        where.append(Signature.created_at >= since)
    b = bucket(session, Signature.created_at, DAY)
    signed: dict[int, int] = dict(
        session.execute(select(b, func.count()).where(*where).group_by(b)).all()
    )
    c = bucket(session, Signature.confirmed_at, DAY)
    confirmed: dict[int, int] = dict(
        session.execute(
            select(c, func.count())
            .where(*where, Signature.state == "confirmed", Signature.confirmed_at.is_not(None))
            .group_by(c)
        ).all()
    )
    if days is not None:
        start = number_of(since, DAY)
    elif signed or confirmed:
        start = min(signed | confirmed)
    else:
        return SignatureDays([], [], [])
    end = max(number_of(now, DAY), *(signed | confirmed or {start: 0}))
    numbers = range(start, end + 1)
    return SignatureDays(
        [start_of(n, DAY) for n in numbers],
        [int(signed.get(n, 0)) for n in numbers],
        [int(confirmed.get(n, 0)) for n in numbers],
    )
