"""The CSV exports of a campaign through the Flask test client: streamed, every row, formula
cells neutralised, supporters' data for editors only and written to the audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from contacts.base import utcnow
from contacts.export import restore
from outreach.audit import AuditEvent
from outreach.extensions import get_db
from tests.reports_data import Letter, add_signatures, seed

H = timedelta(hours=1)


def read_csv(client: FlaskClient, url: str) -> list[dict[str, str]]:
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    assert resp.is_streamed  # written as it is read, never built whole
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    resp.close()
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_deliveries_csv_has_every_letter_of_the_filter_neutralised(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Every letter of the campaign (2,345 of them, more than one chunk of the stream), none of
    another; an official named like a formula is written with a leading quote that the importer
    takes off again; the table's filter applies to the file."""
    letters = [Letter("sent", "FR", sent_after=H)] * 2344
    letters.append(Letter("failed", "DE", name='=HYPERLINK("http://evil.example","x")'))
    drive = seed(app, letters)
    seed(app, [Letter("sent", sent_after=H)] * 3, name="Other drive")
    client = login("viewer")
    rows = read_csv(client, f"/campaigns/{drive.campaign_id}/deliveries.csv")
    assert [int(r["delivery_id"]) for r in rows] == drive.delivery_ids
    evil = rows[-1]
    assert evil["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert restore(evil["name"]) == '=HYPERLINK("http://evil.example","x")'
    assert (evil["country"], evil["state"]) == ("DE", "failed")
    failed = read_csv(client, f"/campaigns/{drive.campaign_id}/deliveries.csv?state=failed")
    assert [r["delivery_id"] for r in failed] == [str(drive.delivery_ids[-1])]


def test_replies_csv_lists_the_replies_people_wrote(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """One row per reply matched to a letter of the campaign, with the official and what they
    wrote; a reply starting with '-' is neutralised."""
    drive = seed(
        app,
        [
            Letter(
                "replied", "FR", "EPP", sent_after=H, changed_after=2 * H, reply_text="I agree."
            ),
            Letter(
                "replied", "DE", "S&D", sent_after=H, changed_after=3 * H, reply_text="-1 from me"
            ),
            Letter("sent", sent_after=H),
        ],
    )
    client = login("viewer")
    rows = read_csv(client, f"/campaigns/{drive.campaign_id}/replies.csv")
    assert [
        (r["delivery_id"], r["country"], r["political_group"], r["reply_text"]) for r in rows
    ] == [
        (str(drive.delivery_ids[0]), "FR", "EPP", "I agree."),
        (str(drive.delivery_ids[1]), "DE", "S&D", "'-1 from me"),
    ]


# Signing in is in the audit log too; these tests look at what the export wrote.
NOT_SIGN_IN = AuditEvent.action != "auth.sign_in"


def test_supporters_csv_is_for_editors_and_audited(
    app: Flask, login: Callable[..., FlaskClient], make_user: Callable[..., tuple[str, str]]
) -> None:
    """A viewer is refused (403) and nothing is logged; a campaigner gets every signature of the
    campaign, names like formulas neutralised, and the audit log records the export (who, which
    campaign) without any supporter's data."""
    drive = seed(app, [Letter("sent", sent_after=H)])
    now = utcnow()
    add_signatures(app, drive.campaign_id, [("confirmed", now, now), ("pending", now, None)])
    viewer = login("viewer")
    assert viewer.get(f"/campaigns/{drive.campaign_id}/supporters.csv").status_code == 403
    with app.app_context():
        assert get_db().session.scalars(select(AuditEvent).where(NOT_SIGN_IN)).all() == []
    viewer.delete_cookie(app.config["SESSION_COOKIE_NAME"])  # signed out

    campaigner = login("campaigner")
    rows = read_csv(campaigner, f"/campaigns/{drive.campaign_id}/supporters.csv")
    assert [(r["name"], r["state"]) for r in rows] == [
        ("'=Supporter 0", "confirmed"),
        ("'=Supporter 1", "pending"),
    ]
    with app.app_context():
        (event,) = get_db().session.scalars(select(AuditEvent).where(NOT_SIGN_IN)).all()
    assert (event.action, event.actor) == ("export supporters", "user:2 campaigner@example.org")
    assert event.detail == f"campaign {drive.campaign_id}: signatures as CSV"
    assert "@example.net" not in (event.detail or "")
