"""The stored figures of a drive's report and of the dashboard (outreach.reports.snapshots): the
fast path (figures read back from the table) gives exactly the figures and the pictures of the
slow path (every letter grouped again), and the freshness rule holds: recent figures are shown,
figures of a drive that has not changed are kept, changed ones are recomputed by a real worker
or, when too old, in the request. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from contacts.base import utcnow
from outreach.campaigns.models import Delivery
from outreach.extensions import get_db
from outreach.reports import figures, snapshots
from outreach.reports.snapshots import ReportSnapshot
from tests.conftest import running_worker, wait_for
from tests.reports_data import T0, Letter, add_signatures, seed
from tests.test_reports import HISTORY, H


def _charts(html: str) -> str:
    """The pictures and figures of a page: everything but the lines that say when, and the CSRF
    tokens of its forms (signed with the second they were made)."""
    html = re.sub(r'<p class="hint as-of".*?</p>', "", html, flags=re.S)
    html = re.sub(r'name="csrf_token"[^>]*>', "", html)
    return re.sub(r"report of \d\d \w+ \d{4}, \d\d:\d\d UTC", "", html)


def _snapshot(app: Flask, key: str) -> ReportSnapshot:
    with app.app_context():
        row = get_db().session.get(ReportSnapshot, key)
        assert row is not None
        get_db().session.expunge(row)
        return row


def _age(app: Flask, key: str, by: timedelta) -> None:
    """Make the stored figures look `by` older than they are."""
    with app.app_context(), get_db().transaction() as session:
        row = session.get(ReportSnapshot, key)
        assert row is not None
        row.computed_at = row.computed_at - by


def _how(html: str) -> str:
    match = re.search(r'class="hint as-of" data-how="(\w+)"', html)
    assert match, "the page does not say when its figures were computed"
    return match.group(1)


def _direct_drive(app: Flask, campaign_id: int) -> figures.DriveFigures:
    with app.app_context():
        return figures.drive_figures(get_db().session, campaign_id)


def test_stored_figures_are_the_exact_figures_and_draw_the_same_page(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """A drive's first report view computes its figures (the slow path) and stores them; read
    back, they equal a fresh exact computation, field by field, and the next view, drawn from
    the stored figures, shows the very same pictures, tables and figures. Likewise for the
    dashboard's picture."""
    drive = seed(app, HISTORY * 3)
    seed(app, [Letter("sent", sent_after=H)] * 4, name="Another drive", status="finished")
    add_signatures(app, drive.campaign_id, [("confirmed", utcnow(), utcnow())])
    client = login("viewer")
    key = snapshots.drive_key(drive.campaign_id)

    first = client.get(f"/campaigns/{drive.campaign_id}/report").get_data(as_text=True)
    assert _how(first) == "computed"
    stored = figures.decode_drive(_snapshot(app, key).figures)
    exact = _direct_drive(app, drive.campaign_id)
    assert stored == exact
    assert stored.counts == {"replied": 3, "sent": 6, "failed": 3, "queued": 3, "bounced": 3,
                             "uncertain": 3}  # fmt: skip
    assert (stored.rates.total.reached, stored.rates.total.replied) == (9, 3)

    second = client.get(f"/campaigns/{drive.campaign_id}/report").get_data(as_text=True)
    assert _how(second) == "recent"
    assert _charts(second) == _charts(first)
    assert "<svg" in _charts(second)

    board = client.get("/").get_data(as_text=True)
    assert _how(board) == "computed"
    with app.app_context():
        exact_board = figures.dashboard_figures(get_db().session)
    assert figures.decode_dashboard(_snapshot(app, snapshots.DASHBOARD).figures) == exact_board
    again = client.get("/").get_data(as_text=True)
    assert _how(again) == "recent"
    assert _charts(again) == _charts(board)


def test_a_drive_that_has_not_changed_keeps_its_figures_and_a_changed_one_is_recomputed(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Figures an hour old of a drive whose letters last changed hours before them are shown as
    they are (no letter changed since: they are exact). Once a letter changes, figures that old
    are not shown: the request computes them again, and they are the exact ones."""
    drive = seed(app, HISTORY)  # its last change was two hours ago
    client = login("viewer")
    url = f"/campaigns/{drive.campaign_id}/report"
    key = snapshots.drive_key(drive.campaign_id)
    client.get(url)
    _age(app, key, timedelta(hours=1))
    before = _snapshot(app, key)

    page = client.get(url).get_data(as_text=True)
    assert _how(page) == "unchanged"
    assert "no letter has changed since" in page
    assert _snapshot(app, key).computed_at == before.computed_at

    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == drive.delivery_ids[1])
            .values(state="replied", updated_at=utcnow())
        )
    page = client.get(url).get_data(as_text=True)
    assert _how(page) == "computed"
    stored = figures.decode_drive(_snapshot(app, key).figures)
    assert stored == _direct_drive(app, drive.campaign_id)
    assert stored.counts["replied"] == 2


def test_figures_of_a_drive_in_flight_are_recomputed_by_a_worker(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Figures older than 30 s of a drive whose letters changed since are shown with their time
    and a note, and a job recomputes them: a real dramatiq Worker takes it, and the next view
    shows the new, exact figures. A drive whose last change came just before its figures were
    computed is treated as changed (a transaction may still have been committing)."""
    just_now = utcnow() - T0
    drive = seed(app, [*HISTORY, Letter("sent", sent_after=just_now, changed_after=just_now)])
    client = login("viewer")
    url = f"/campaigns/{drive.campaign_id}/report"
    key = snapshots.drive_key(drive.campaign_id)
    client.get(url)
    _age(app, key, timedelta(minutes=2))

    page = client.get(url).get_data(as_text=True)  # nothing changed, but not settled
    assert _how(page) == "refreshing"
    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == drive.delivery_ids[4])  # the queued letter is sent
            .values(state="sent", sent_at=utcnow(), updated_at=utcnow())
        )
    stale = _snapshot(app, key)
    assert figures.decode_drive(stale.figures).counts.get("queued") == 1

    with running_worker(app, threads=1):
        wait_for(lambda: _snapshot(app, key).computed_at != stale.computed_at, timeout=30)
    fresh = _snapshot(app, key)
    assert fresh.refresh_queued_at is None
    assert figures.decode_drive(fresh.figures) == _direct_drive(app, drive.campaign_id)
    assert "queued" not in figures.decode_drive(fresh.figures).counts
    page = client.get(url).get_data(as_text=True)
    assert _how(page) == "recent"


def test_the_dashboards_figures_are_kept_until_a_letter_or_a_campaign_changes(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The dashboard's figures an hour old are kept while no letter changed (its marker: the
    newest letter, the latest change, the number of campaigns, the day); a new drive's letters
    change it, and figures that old are then computed again, equal to the exact ones."""
    seed(app, HISTORY)
    client = login("viewer")
    client.get("/")
    _age(app, snapshots.DASHBOARD, timedelta(hours=1))
    assert _how(client.get("/").get_data(as_text=True)) == "unchanged"

    seed(app, [Letter("sent", sent_after=H)] * 2, name="Another drive")
    _age(app, snapshots.DASHBOARD, timedelta(hours=1))
    assert _how(client.get("/").get_data(as_text=True)) == "computed"
    with app.app_context():
        exact = figures.dashboard_figures(get_db().session)
    assert figures.decode_dashboard(_snapshot(app, snapshots.DASHBOARD).figures) == exact
    assert sum(exact.activity.series["sent"]) == 6
