"""Keyset pagination by id: stable under inserts, one indexed range scan per page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


def page(
    session: Session,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[int],
    args: dict[str, Any],
    *,
    descending: bool = False,
    dump: Callable[[Any], T] | None = None,
) -> dict[str, Any]:
    """{items, next_cursor}: `limit` rows after the `cursor` id, in id order."""
    limit: int = args["limit"]
    cursor: int | None = args.get("cursor")
    if cursor is not None:
        stmt = stmt.where(id_column < cursor if descending else id_column > cursor)
    stmt = stmt.order_by(id_column.desc() if descending else id_column).limit(limit + 1)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [dump(r) for r in rows] if dump else rows,
        "next_cursor": rows[-1].id if more and rows else None,
    }
