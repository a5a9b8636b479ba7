"""Reading rows for the API: keyset pagination by id (stable under inserts, one indexed range
scan per page), and one row by id or a 404 problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from contacts.base import Base
from outreach.api.problems import Problem
from outreach.extensions import get_db

T = TypeVar("T")
M = TypeVar("M", bound=Base)


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


def get_or_404(model: type[M], row_id: int, what: str) -> M:
    """The row of `model` with this id, or a 404 problem naming `what`."""
    row = get_db().session.get(model, row_id)
    if row is None:
        raise Problem(404, f"There is no {what} {row_id}.")
    return row
