"""The dashboard's question: which drives are running, how far along, when will they finish.

Progress reuses `campaigns.control.progress` (counts per state over the campaign-state index and
the letters sent in the last ten minutes): two indexed queries per active drive, cheap while
100,000 letters are in flight. The rate is those letters over the last ten minutes, or over the
time since the launch when the drive is younger than that (a drive launched two minutes ago that
sent 40 letters goes at 20 a minute, not 4), and the estimated finish is the remaining letters at
that rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.campaigns import control
from outreach.campaigns.models import Campaign, CampaignStatus

ACTIVE = (CampaignStatus.SENDING.value, CampaignStatus.PAUSED.value)


@dataclass(frozen=True)
class Drive:
    id: int
    name: str
    status: str
    launched_at: datetime | None
    progress: control.Progress

    @property
    def sent(self) -> int:
        """Letters that left and were accepted (some since answered or bounced)."""
        c = self.progress.counts
        return c.get("sent", 0) + c.get("replied", 0) + c.get("bounced", 0)

    @property
    def failed(self) -> int:
        return self.progress.counts.get("failed", 0)

    @property
    def uncertain(self) -> int:
        return self.progress.counts.get("uncertain", 0)

    def as_json(self) -> dict[str, Any]:
        p = self.progress
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "counts": p.counts,
            "total": p.total,
            "done": p.done,
            "sent": self.sent,
            "failed": self.failed,
            "uncertain": self.uncertain,
            "percent": p.percent,
            "per_minute": round(p.per_minute, 1),
            "remaining": p.remaining,
            "finish_at": p.finish_at.isoformat() if p.finish_at else None,
        }


@dataclass(frozen=True)
class Scheduled:
    id: int
    name: str
    scheduled_at: datetime


def active_drives(session: Session, *, now: datetime | None = None) -> list[Drive]:
    """Drives sending or paused, the most recently launched first, with their progress."""
    campaigns = session.execute(
        select(Campaign.id, Campaign.name, Campaign.status, Campaign.launched_at)
        .where(Campaign.status.in_(ACTIVE))
        .order_by(Campaign.launched_at.desc(), Campaign.id.desc())
    ).all()
    now = now or utcnow()
    return [
        Drive(
            cid,
            name,
            status,
            launched,
            _observed(control.progress(session, cid, now=now), launched, now),
        )
        for cid, name, status, launched in campaigns
    ]


def _observed(p: control.Progress, launched: datetime | None, now: datetime) -> control.Progress:
    """The rate over the time the drive has really been sending, within the last ten minutes."""
    if launched is None:
        return p
    if launched.tzinfo is None:  # SQLite gives naive UTC values back
        launched = launched.replace(tzinfo=UTC)
    window = min(control.RATE_WINDOW, max(now - launched, timedelta(minutes=1)))
    per_minute = p.sent_recently / (window.total_seconds() / 60)
    finish_at = (
        now + timedelta(minutes=p.remaining / per_minute) if p.remaining and per_minute else None
    )
    return replace(p, per_minute=per_minute, finish_at=finish_at)


def scheduled_drives(session: Session) -> list[Scheduled]:
    """Drafts with a launch time, soonest first.

    The `scheduled_at` column comes with the scheduling of launches (issue 8, "Running a
    drive"); until a campaign has it, no drive is scheduled and the dashboard says so."""
    column = getattr(Campaign, "scheduled_at", None)
    if column is None:
        return []
    rows = session.execute(
        select(Campaign.id, Campaign.name, column)
        .where(Campaign.status == CampaignStatus.DRAFT.value, column.is_not(None))
        .order_by(column)
    ).all()
    return [Scheduled(cid, name, at) for cid, name, at in rows]
