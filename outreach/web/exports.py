"""CSV exports of a campaign: its letters, the replies, its supporters.

Each file is streamed: rows are read 1,000 at a time (outreach.reports.exports) and written to the
response as they come, so a drive of 100,000 letters never sits in memory whole. Every cell goes
through `contacts.export.neutralise` (a value a spreadsheet would run as a formula starts with
'), and the file starts with a UTF-8 byte-order mark so that spreadsheets read its accents.

The supporters' file is personal data: admins and campaigners only, and each export is written
to the audit log (who, when, which campaign; never the data).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from flask import Blueprint, Response, abort, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from contacts.export import neutralise
from outreach import audit
from outreach.accounts.models import Role
from outreach.campaigns.models import Campaign
from outreach.extensions import get_db
from outreach.reports import exports
from outreach.web.access import require_login_for, roles_required
from outreach.web.deliveries import parse_filter

bp = Blueprint("exports", __name__)
require_login_for(bp)
FLUSH_EVERY = 500  # rows per chunk handed to the server


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text in chunks: the byte-order mark and the header, then FLUSH_EVERY rows a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
        pending += 1
        if pending >= FLUSH_EVERY:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _rows(query: Callable[..., Iterator[Sequence[Any]]], *args: Any) -> Iterator[Sequence[Any]]:
    """The query's rows on a connection of their own, opened when the download starts and
    closed when it ends or is dropped (the request's session is long gone by then)."""
    engine = get_db().engine

    def rows() -> Iterator[Sequence[Any]]:
        with engine.connect() as conn:
            yield from query(conn, *args)

    return rows()


def _response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    return Response(
        csv_stream(header, rows),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _campaign(campaign_id: int) -> Campaign:
    return get_db().session.get(Campaign, campaign_id) or abort(404)


@bp.get("/campaigns/<int:campaign_id>/deliveries.csv")
def deliveries_csv(campaign_id: int) -> ResponseReturnValue:
    """Every letter of the campaign, or those of the delivery table's filter."""
    campaign = _campaign(campaign_id)
    f = parse_filter(request.args.to_dict())
    rows = _rows(exports.delivery_rows, campaign.id, f)
    return _response(f"deliveries-{campaign.id}.csv", exports.DELIVERY_COLUMNS, rows)


@bp.get("/campaigns/<int:campaign_id>/replies.csv")
def replies_csv(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    rows = _rows(exports.reply_rows, campaign.id)
    return _response(f"replies-{campaign.id}.csv", exports.REPLY_COLUMNS, rows)


@bp.get("/campaigns/<int:campaign_id>/supporters.csv")
@roles_required(Role.ADMIN, Role.CAMPAIGNER)
def supporters_csv(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    session = get_db().session
    audit.record(
        session,
        actor=f"user:{current_user.id} {current_user.email}",
        action="export supporters",
        detail=f"campaign {campaign.id}: signatures as CSV",
    )
    session.commit()
    rows = _rows(exports.supporter_rows, campaign.id)
    return _response(f"supporters-{campaign.id}.csv", exports.SUPPORTER_COLUMNS, rows)
