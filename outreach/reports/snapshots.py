"""Stored figures of the expensive pictures, with the rule that keeps the pages truthful.

A drive's report and the dashboard each draw pictures that group every letter by computed time
periods (0.2 to 1 s for 100,000 letters; docs/performance.md, "Admin pages"). Their figures
(outreach.reports.figures) are kept here, one row per page (`drive:<id>`, `dashboard`), with
the moment they were computed and a *marker* of what they read: for a drive, the number of its
letters and the latest `updated_at` among them (every change of a delivery's state sets it); for
the dashboard, the newest letter's id, the latest `updated_at` and the number of campaigns (a
letter is deleted only with its campaign), read from indexes, and the day, since its window
moves at midnight. A page is served by `serve`:

1. no stored figures: computed now, in the request, and stored (the slow, exact path);
2. figures younger than FRESH (30 s): shown as they are, with their time;
3. older, but the marker is unchanged and the letters had settled when the figures were
   computed (no change in the SETTLE minutes before): no letter has changed since, so the figures
   are today's, and are shown as such;
4. older and letters changed since: if they are at most MAX_AGE old, shown with their time and
   a note that new figures are being computed, while a worker recomputes them
   (`REFRESH_SNAPSHOT`, workers/reports.py; at most one job queued per page a minute); older
   than that, computed in the request as in 1.

So a page never shows figures older than MAX_AGE unless no letter changed since they were
computed, and always says when they were computed. The marker is read before the figures, so a
change committed while they are computed shows in the next marker. What the marker cannot see:
a transaction that set `updated_at` more than SETTLE before it committed (none of the engine's
does: a letter's outcome is one short transaction), and changes to the directory (the reply rates
group letters by the official's country and group as the directory holds them when computed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, String, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from contacts.base import Base, utcnow
from outreach.campaigns.models import Campaign, Delivery
from outreach.jobs import Job, defer
from outreach.reports import figures

# A page's figures to compute again in the background: args (key,).
REFRESH_SNAPSHOT = Job("refresh_report_snapshot", "reports")

FRESH = timedelta(seconds=30)
MAX_AGE = timedelta(minutes=5)
SETTLE = timedelta(minutes=5)
REQUEUE = timedelta(minutes=1)  # a refresh job lost with Redis is queued again after this
DASHBOARD = "dashboard"


class ReportSnapshot(Base):
    __tablename__ = "report_snapshots"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    computed_at: Mapped[datetime]
    marker: Mapped[str] = mapped_column(String(200))
    last_change: Mapped[datetime | None]  # the latest updated_at the figures read
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    refresh_queued_at: Mapped[datetime | None]


def drive_key(campaign_id: int) -> str:
    return f"drive:{campaign_id}"


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive UTC datetimes back; PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


Marker = tuple[str, datetime | None]


def _letters_marker(session: Session, campaign_id: int | None) -> Marker:
    query = select(func.count(), func.max(Delivery.updated_at))
    if campaign_id is not None:
        query = query.where(Delivery.campaign_id == campaign_id)
    count, last = session.execute(query).one()
    last = _aware(last) if last is not None else None
    return f"{count}|{last.isoformat() if last else '-'}", last


@dataclass(frozen=True)
class _Kind:
    marker: Callable[[Session, datetime], Marker]
    compute: Callable[[Session, datetime], dict[str, Any]]


def _kind(key: str) -> _Kind:
    if key == DASHBOARD:

        def day_marker(session: Session, now: datetime) -> Marker:
            # Counting every letter of every drive would cost a pass over them all (40 ms for
            # 100,000 on SQLite); the newest id and change are read from indexes instead. Letters
            # are deleted only with their campaign (ON DELETE CASCADE), which the number of
            # campaigns shows.
            newest, last, campaigns = session.execute(
                select(
                    select(func.max(Delivery.id)).scalar_subquery(),
                    select(func.max(Delivery.updated_at)).scalar_subquery(),
                    select(func.count()).select_from(Campaign).scalar_subquery(),
                )
            ).one()
            last = _aware(last) if last is not None else None
            stamp = last.isoformat() if last else "-"
            return f"{now.date().isoformat()}|{newest}|{stamp}|{campaigns}", last

        return _Kind(
            day_marker,
            lambda s, now: figures.encode_dashboard(figures.dashboard_figures(s, now=now)),
        )
    prefix, _, number = key.partition(":")
    if prefix != "drive" or not number.isdigit():
        raise ValueError(f"no figures are stored under {key!r}")
    campaign_id = int(number)
    return _Kind(
        lambda s, now: _letters_marker(s, campaign_id),
        lambda s, now: figures.encode_drive(figures.drive_figures(s, campaign_id)),
    )


@dataclass(frozen=True)
class Served:
    """Figures for a page (encoded; outreach.reports.figures decodes them) and how old they are."""

    figures: dict[str, Any]
    computed_at: datetime
    # "computed": now, in this request; "recent": younger than FRESH; "unchanged": no letter
    # changed since; "refreshing": letters changed since, new figures are being computed.
    how: str

    @property
    def refreshing(self) -> bool:
        return self.how == "refreshing"

    # What the page says of the rule.
    fresh_seconds = int(FRESH.total_seconds())
    max_minutes = int(MAX_AGE.total_seconds() // 60)


def serve(session: Session, key: str, *, now: datetime | None = None) -> Served:
    """The page's figures by the rule of the module docstring; the caller commits (the figures
    computed here are stored, a refresh job is deferred until the commit)."""
    now = now or utcnow()
    kind = _kind(key)
    row = session.get(ReportSnapshot, key)
    if row is not None:
        computed_at = _aware(row.computed_at)
        age = now - computed_at
        if age <= FRESH:
            return Served(row.figures, computed_at, "recent")
        marker, _ = kind.marker(session, now)
        last = _aware(row.last_change) if row.last_change is not None else None
        settled = last is None or computed_at - last >= SETTLE
        if marker == row.marker and settled:
            return Served(row.figures, computed_at, "unchanged")
        if age <= MAX_AGE:
            queued = row.refresh_queued_at
            if queued is None or now - _aware(queued) > REQUEUE:
                row.refresh_queued_at = now
                defer(session, REFRESH_SNAPSHOT, key)
            return Served(row.figures, computed_at, "refreshing")
    return Served(compute(session, key, now=now), now, "computed")


def compute(session: Session, key: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Compute the figures exactly and store them (the marker is read first); the caller commits."""
    now = now or utcnow()
    kind = _kind(key)
    marker, last = kind.marker(session, now)
    data = kind.compute(session, now)
    values = {
        "key": key,
        "computed_at": now,
        "marker": marker,
        "last_change": last,
        "figures": data,
        "refresh_queued_at": None,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ReportSnapshot).values(**values)
    # Two requests may compute the same page at once: the later figures win, neither fails.
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={k: stmt.excluded[k] for k in values if k != "key"}
    )
    session.execute(stmt)
    # The ORM's copy of the row, if this session read it, is now out of date.
    row = session.identity_map.get(Session.identity_key(ReportSnapshot, (key,)))
    if row is not None:
        session.expire(row)
    return data


def refresh(session: Session, key: str, *, now: datetime | None = None) -> bool:
    """The worker's job: compute the page's figures again unless a request or another job did in
    the last few seconds (a duplicate message). True if it computed them."""
    now = now or utcnow()
    row = session.get(ReportSnapshot, key)
    if row is not None and now - _aware(row.computed_at) < timedelta(seconds=2):
        return False
    compute(session, key, now=now)
    return True
