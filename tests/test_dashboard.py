"""The dashboard through the Flask test client, on a database holding drives in every stage."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from contacts.base import utcnow
from tests.reports_data import Letter, seed

M = timedelta(minutes=1)


def cards(html: str) -> dict[int, str]:
    found = re.findall(r'<article class="drive card" data-drive="(\d+)"(.*?)</article>', html, re.S)
    return {int(i): body for i, body in found}


def field(card: str, name: str) -> str:
    match = re.search(rf'data-field="{name}">([^<]*)<', card)
    assert match, name
    return match.group(1).strip()


def test_drives_sending_and_paused_with_progress_and_finish(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Sending and paused drives each get a card with their bar and figures (sent of total,
    failed, uncertain), the sending one its estimated finish from the last ten minutes' rate, the
    paused one how many letters are held; finished drives and drafts are only in the table of
    every campaign; the JSON the page polls gives the same figures; a viewer sees it all."""
    start = utcnow() - 20 * M
    sending = seed(
        app,
        [Letter("sent", sent_after=15 * M, changed_after=15 * M)] * 10
        + [Letter("replied", sent_after=16 * M, changed_after=17 * M)] * 2
        + [Letter("failed", changed_after=15 * M)]
        + [Letter("uncertain", changed_after=15 * M)]
        + [Letter("queued")] * 24,
        name="Sending drive",
        created=start,
    )
    paused = seed(
        app,
        [Letter("sent", sent_after=M)] + [Letter("held")] * 3,
        name="Paused drive",
        status="paused",
        created=start,
    )
    finished = seed(
        app, [Letter("sent", sent_after=M)], name="Finished drive", status="finished", created=start
    )
    draft = seed(app, [], name="Draft letter", status="draft")
    client = login("viewer")
    html = client.get("/").get_data(as_text=True)

    found = cards(html)
    assert set(found) == {sending.campaign_id, paused.campaign_id}
    card = found[sending.campaign_id]
    assert (
        field(card, "sent"),
        field(card, "total"),
        field(card, "failed"),
        field(card, "uncertain"),
    ) == ("12", "38", "1", "1")
    line = field(card, "line")
    assert line.startswith(
        "34% done · 1.2 letters a minute over the last 10 minutes · estimated finish "
    )
    assert 'class="progress"' in card
    assert 'class="sent"' in card
    assert "paused: 3 letters held" in field(found[paused.campaign_id], "line")
    assert "No drive is scheduled." in html
    table = html.split('id="all-heading"')[1]
    for name in ("Sending drive", "Paused drive", "Finished drive", "Draft letter"):
        assert name in table
    assert f"/campaigns/{finished.campaign_id}/report" in table
    assert f"/campaigns/{draft.campaign_id}/report" not in table  # no letter, no report
    assert "Letters per day, every drive, last 30 days" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="activity"' in html
    assert "dashboard.js" in html

    data = client.get("/dashboard/drives.json").get_json()
    by_id = {d["id"]: d for d in data["drives"]}
    assert set(by_id) == {sending.campaign_id, paused.campaign_id}
    d = by_id[sending.campaign_id]
    assert (d["sent"], d["total"], d["failed"], d["uncertain"], d["remaining"]) == (
        12,
        38,
        1,
        1,
        24,
    )
    assert d["per_minute"] == 1.2
    assert d["finish_at"]
    assert d["status"] == "sending"
    assert by_id[paused.campaign_id]["counts"] == {"sent": 1, "held": 3}


def test_an_empty_dashboard_says_there_is_nothing_yet(login: Callable[..., FlaskClient]) -> None:
    """With no campaign: no drive, nothing scheduled, no picture, and a link to write the first
    letter for an editor."""
    html = login("campaigner").get("/").get_data(as_text=True)
    assert "No drive is sending." in html
    assert "No drive is scheduled." in html
    assert "<svg" not in html
    assert "Write the first letter" in html
