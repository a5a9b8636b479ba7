"""The figures behind the expensive pictures, as values that can be stored and read back.

A drive's report draws its figures from grouped passes over all its letters (the counts by state;
the states over time, `timeline.campaign_timeline`; the reply rates, `replies.rates`), and the dashboard one
(`timeline.recent_activity`). For 100,000 letters each pass costs 0.2 to 1 s, so
outreach.reports.snapshots keeps their result: these functions compute the figures exactly
(the slow path) and turn them into JSON and back without loss (`decode(encode(f)) == f`, proved
by tests/test_report_snapshots.py), so a page drawn from stored figures is the page drawn from
fresh ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from outreach.campaigns import services
from outreach.reports import replies, timeline
from outreach.reports.replies import RateRow, Rates
from outreach.reports.timeline import Timeline

ACTIVITY_DAYS = 30


@dataclass(frozen=True)
class DriveFigures:
    """A drive's report figures: its letters by state, where they stood over time, who answered."""

    counts: dict[str, int]
    timeline: Timeline
    rates: Rates


@dataclass(frozen=True)
class DashboardFigures:
    """The dashboard's picture: each day's moves over every drive, the last 30 days."""

    activity: Timeline


def drive_figures(session: Session, campaign_id: int) -> DriveFigures:
    return DriveFigures(
        services.state_counts(session, [campaign_id])[campaign_id],
        timeline.campaign_timeline(session, campaign_id),
        replies.rates(session, campaign_id),
    )


def dashboard_figures(session: Session, *, now: datetime | None = None) -> DashboardFigures:
    return DashboardFigures(timeline.recent_activity(session, days=ACTIVITY_DAYS, now=now))


# --- JSON ----------------------------------------------------------------------------------------
def _encode_timeline(line: Timeline) -> dict[str, Any]:
    return {
        "width": int(line.width.total_seconds()),
        "times": [t.isoformat() for t in line.times],
        "series": line.series,
    }


def _decode_timeline(data: dict[str, Any]) -> Timeline:
    return Timeline(
        timedelta(seconds=data["width"]),
        [datetime.fromisoformat(t) for t in data["times"]],
        {state: [int(v) for v in values] for state, values in data["series"].items()},
    )


def _encode_rows(rows: list[RateRow]) -> list[list[Any]]:
    return [[r.key, r.reached, r.replied] for r in rows]


def _decode_rows(rows: list[list[Any]]) -> list[RateRow]:
    return [RateRow(str(k), int(n), int(r)) for k, n, r in rows]


def encode_drive(figures: DriveFigures) -> dict[str, Any]:
    r = figures.rates
    return {
        "counts": figures.counts,
        "timeline": _encode_timeline(figures.timeline),
        "by_country": _encode_rows(r.by_country),
        "by_group": _encode_rows(r.by_group),
        "total": _encode_rows([r.total])[0],
    }


def decode_drive(data: dict[str, Any]) -> DriveFigures:
    return DriveFigures(
        {state: int(n) for state, n in data["counts"].items()},
        _decode_timeline(data["timeline"]),
        Rates(
            _decode_rows(data["by_country"]),
            _decode_rows(data["by_group"]),
            _decode_rows([data["total"]])[0],
        ),
    )


def encode_dashboard(figures: DashboardFigures) -> dict[str, Any]:
    return {"activity": _encode_timeline(figures.activity)}


def decode_dashboard(data: dict[str, Any]) -> DashboardFigures:
    return DashboardFigures(_decode_timeline(data["activity"]))
