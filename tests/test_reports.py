"""The questions behind the pictures, asked of a real database holding drives with known
histories (tests/reports_data.py): each answer is checked against what the rows say, and the
report page is read through the Flask test client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from contacts.base import utcnow
from outreach.extensions import get_db
from outreach.reports import replies, signatures, timeline
from tests.reports_data import T0, Letter, add_signatures, seed

H = timedelta(hours=1)
HISTORY = [
    Letter(
        "replied", sent_after=H, changed_after=3 * H, reply_text="Thank you, I will support it."
    ),
    Letter("sent", sent_after=H),
    Letter("sent", sent_after=2 * H),
    Letter("failed", changed_after=2 * H),
    Letter("queued"),
    Letter("bounced", sent_after=H, changed_after=4 * H),
    Letter("uncertain", changed_after=2 * H),
]


def at(line: timeline.Timeline, offset: timedelta) -> dict[str, int]:
    i = line.times.index(T0 + offset)
    return {state: values[i] for state, values in line.series.items() if values[i]}


def test_campaign_timeline_follows_each_letter_from_its_columns(app: Flask) -> None:
    """Per period, every letter is counted once in the state its row says it was in then:
    waiting from creation, sent from sent_at, its final state from its last change; a reply
    after a send moves a letter from sent to replied."""
    drive = seed(app, HISTORY)
    seed(app, [Letter("sent", sent_after=H)] * 3, name="Another drive")  # not counted
    with app.app_context():
        line = timeline.campaign_timeline(get_db().session, drive.campaign_id)
    assert line.width == timedelta(minutes=5)  # 4 hours in at most 72 periods
    assert line.times[0] == T0
    assert line.times[-1] == T0 + 4 * H
    assert at(line, timedelta(0)) == {"waiting": 7}
    assert at(line, H) == {"sent": 3, "waiting": 4}
    assert at(line, 2 * H) == {"sent": 4, "failed": 1, "uncertain": 1, "waiting": 1}
    assert at(line, 3 * H) == {"replied": 1, "sent": 3, "failed": 1, "uncertain": 1, "waiting": 1}
    assert at(line, 4 * H) == {
        "replied": 1, "sent": 2, "bounced": 1, "failed": 1, "uncertain": 1, "waiting": 1,
    }  # fmt: skip
    assert all(sum(v[i] for v in line.series.values()) == 7 for i in range(len(line.times)))


def test_recent_activity_counts_each_days_moves_over_every_drive(app: Flask) -> None:
    """The dashboard's picture: letters sent, answered, bounced, failed, uncertain per day, over
    every campaign, within the last 30 days only."""
    seed(app, HISTORY)
    seed(app, [Letter("sent", sent_after=H)] * 3, name="Another drive")
    seed(
        app,
        [Letter("sent", sent_after=H)] * 5,
        name="Old drive",
        created=utcnow() - timedelta(days=40),
    )
    with app.app_context():
        activity = timeline.recent_activity(get_db().session, days=30)
    assert len(activity.times) == 30
    totals = {state: sum(v) for state, v in activity.series.items()}
    assert totals == {"sent": 7, "replied": 1, "bounced": 1, "failed": 1, "uncertain": 1}


def test_reply_rates_by_group_and_by_country(app: Flask) -> None:
    """Letters that reached (sent or replied) are the denominator; bounced and failed ones are
    not; the EP's EL counts as Greece; a contact without group is its own row."""
    drive = seed(
        app,
        [
            Letter("replied", "FR", "EPP"), Letter("sent", "FR", "EPP"), Letter("sent", "FR", "EPP"),
            Letter("replied", "DE", "S&D"), Letter("bounced", "DE", "S&D"),
            Letter("replied", "EL", "Renew"), Letter("sent", "GR", "Renew"),
            Letter("failed", "IT", "EPP"), Letter("sent", "IT", None),
        ],
    )  # fmt: skip
    with app.app_context():
        session = get_db().session
        groups = {
            r.key: (r.replied, r.reached) for r in replies.by_group(session, drive.campaign_id)
        }
        countries = replies.by_country(session, drive.campaign_id)
        total = replies.totals(session, drive.campaign_id)
    assert groups == {"EPP": (1, 3), "S&D": (1, 1), "Renew": (1, 2), "": (0, 1)}
    assert [(r.key, r.replied, r.reached) for r in countries] == [
        ("DE", 1, 1), ("GR", 1, 2), ("FR", 1, 3), ("IT", 0, 1),
    ]  # fmt: skip
    assert (total.replied, total.reached) == (3, 7)


def test_signatures_per_day(app: Flask) -> None:
    """Signatures made per day (withdrawn and rejected left out) and confirmations per day of
    their confirmation, from the first signature to today."""
    drive = seed(app, [Letter("sent", sent_after=H)])
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    two_days_ago = today - timedelta(days=2)
    add_signatures(
        app,
        drive.campaign_id,
        [
            ("confirmed", two_days_ago, two_days_ago + timedelta(hours=1)),
            ("confirmed", two_days_ago, today),
            ("withdrawn", two_days_ago, None),
            ("rejected", two_days_ago, None),
            ("pending", today, None),
            ("held", today, None),
        ],
    )
    with app.app_context():
        days = signatures.per_day(get_db().session, drive.campaign_id)
    assert [t.date() for t in days.times] == [
        (two_days_ago + timedelta(days=i)).date() for i in range(3)
    ]
    assert days.signed == [2, 0, 2]
    assert days.confirmed == [1, 0, 1]


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    with app.app_context():
        engine = get_db().engine

        def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", count)


def test_report_page_shows_the_pictures_lists_and_prints(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The report of a drive: its figures, four pictures (states over time, the map, by country,
    by group) whose SVG parses with its title, their tables, who replied (with the reply) and who
    was written to; it is readable by a viewer, and the stylesheet has a print layout. The number
    of SQL statements does not grow with the number of letters (aggregates, not a loop)."""
    drive = seed(app, HISTORY)
    client = login("viewer")
    with counting_queries(app) as small:
        page = client.get(f"/campaigns/{drive.campaign_id}/report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for title in ("Where the letters stood, over time", "Reply rate by member state",
                  "Reply rate by country", "Reply rate by political group"):  # fmt: skip
        assert f"<figcaption>{title}</figcaption>" in html
    svgs = [ET.fromstring(s + "</svg>") for s in _svgs(html)]  # noqa: S314 - our own page
    assert len(svgs) == 4
    assert "Thank you, I will support it." in html  # who replied
    assert html.count("Member of the European Parliament") == 7  # who was written to
    assert "Signed by Coalition for Rights." in html
    stylesheet = client.get("/static/app.css")
    assert "@media print" in stylesheet.get_data(as_text=True)
    stylesheet.close()

    bigger = seed(app, HISTORY * 30, name="Bigger")
    with counting_queries(app) as large:
        assert client.get(f"/campaigns/{bigger.campaign_id}/report").status_code == 200
    assert len(large) == len(small)


def _svgs(html: str) -> list[str]:
    parts = html.split("<svg ")[1:]
    return ["<svg " + p.split("</svg>")[0] for p in parts]
