"""Time buckets computed in the database: `floor(epoch seconds / width)` of a timestamp column.

Grouping by this expression lets the database count a drive's letters per hour (or per minute,
or per day) in one pass; Python then only walks the buckets. Widths are whole seconds, so buckets
start at round UTC times (the hour, midnight).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlalchemy.orm import Session

# Period widths a picture may use, smallest first; `width_for` picks one giving at most MAX_POINTS.
WIDTHS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=7),
)
MAX_POINTS = 72


def width_for(span: timedelta, max_points: int = MAX_POINTS) -> timedelta:
    for width in WIDTHS:
        if span / width <= max_points:
            return width
    return WIDTHS[-1]


def bucket(session: Session, column: Any, width: timedelta) -> Any:
    """An SQL expression: the number of the `width`-long period (since the epoch) of `column`."""
    seconds = int(width.total_seconds())
    if session.get_bind().dialect.name == "postgresql":
        # date_part gives double precision; EXTRACT gives numeric since PostgreSQL 14, whose
        # division costs several times more over 100,000 rows.
        return cast(func.floor(func.date_part("epoch", column) / float(seconds)), Integer)
    # SQLite stores timestamps as text in UTC; julianday() reads them (faster than strftime).
    epoch = func.round((func.julianday(column) - 2440587.5) * 86400)
    return cast(epoch, Integer) // seconds


def start_of(number: int, width: timedelta) -> datetime:
    return datetime.fromtimestamp(number * int(width.total_seconds()), UTC)


def number_of(moment: datetime, width: timedelta) -> int:
    if moment.tzinfo is None:  # SQLite gives naive UTC values back
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) // int(width.total_seconds())
