"""The delivery table of a campaign and its bulk actions, through the Flask test client on a real
database; retrying failed letters (campaigns.control.retry_failed) down to a real worker and the
SMTP server."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from contacts.models import Contact
from outreach.campaigns import control
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.devmail import CaptureServer, read_mailbox
from outreach.extensions import get_db
from tests.conftest import csrf_token_from, wait_for
from tests.reports_data import Letter, seed

H = timedelta(hours=1)


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-delivery="(\d+)">', html)]


def states(app: Flask, ids: list[int]) -> list[str]:
    with app.app_context():
        session = get_db().session
        return [session.get(Delivery, i).state for i in ids]  # type: ignore[union-attr]


def events(app: Flask, delivery_id: int) -> list[tuple[str | None, str, str, str | None]]:
    with app.app_context():
        return [
            tuple(e)  # type: ignore[misc]
            for e in get_db().session.execute(
                select(DeliveryEvent.from_state, DeliveryEvent.to_state, DeliveryEvent.actor,
                       DeliveryEvent.detail)
                .where(DeliveryEvent.delivery_id == delivery_id)
                .order_by(DeliveryEvent.id)
            )
        ]  # fmt: skip


def test_filters_by_state_country_group_and_committee(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """Each filter keeps exactly the letters whose row or official matches, and they combine;
    the page says how many match; Greece is found as GR whether the directory says GR or EL."""
    drive = seed(
        app,
        [
            Letter("sent", "FR", "EPP", ("AFET",)),      # 0
            Letter("failed", "FR", "S&D", ("DROI",)),    # 1
            Letter("uncertain", "DE", "EPP", ("AFET", "DROI")),  # 2
            Letter("sent", "EL", "Renew"),               # 3
            Letter("failed", "GR", "EPP", ("AFET",)),    # 4
        ],
    )  # fmt: skip
    ids = drive.delivery_ids
    seed(app, [Letter("failed", "FR", "EPP", ("AFET",))], name="Other drive")
    client = login("viewer")
    url = f"/campaigns/{drive.campaign_id}/deliveries"

    def shown(**args: str) -> list[int]:
        page = client.get(url, query_string=args)
        assert page.status_code == 200
        return rows(page.get_data(as_text=True))

    assert shown() == ids
    assert shown(state="failed") == [ids[1], ids[4]]
    assert shown(country="FR") == [ids[0], ids[1]]
    assert shown(country="GR") == [ids[3], ids[4]]
    assert shown(group="EPP") == [ids[0], ids[2], ids[4]]
    assert shown(committee="AFET") == [ids[0], ids[2], ids[4]]
    assert shown(committee="DROI", state="failed") == [ids[1]]
    assert shown(committee="AFET", group="EPP", country="DE") == [ids[2]]
    html = client.get(url, query_string={"group": "EPP"}).get_data(as_text=True)
    assert "<b>3</b> letters match the filter." in html
    # A viewer sees no bulk action.
    assert "Failed: retry" not in html
    # Each row links to the delivery's page with its history.
    assert f'href="/deliveries/{ids[0]}"' in html
    detail = client.get(f"/deliveries/{ids[0]}").get_data(as_text=True)
    assert "History" in detail
    assert "queued" in detail


def test_keyset_pages_walk_every_letter_once(app: Flask, login: Callable[..., FlaskClient]) -> None:
    """120 letters in pages of 50: Next walks 50, 50, 20 with no letter twice or missed, and
    Previous from the last page comes back to the second."""
    drive = seed(app, [Letter("sent", sent_after=H)] * 120)
    client = login("viewer")
    url = f"/campaigns/{drive.campaign_id}/deliveries"
    seen: list[list[int]] = []
    page = client.get(url).get_data(as_text=True)
    while True:
        seen.append(rows(page))
        found = re.search(r'rel="next" href="([^"]+)"', page)
        if not found:
            break
        page = client.get(found.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert [len(s) for s in seen] == [50, 50, 20]
    assert [i for s in seen for i in s] == drive.delivery_ids
    previous = re.search(r'rel="prev" href="([^"]+)"', page)
    assert previous
    back = client.get(previous.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert rows(back) == seen[1]


def _bulk(client: FlaskClient, campaign_id: int, data: dict[str, object]) -> str:
    token = csrf_token_from(
        client.get(f"/campaigns/{campaign_id}/deliveries").get_data(as_text=True)
    )
    resp = client.post(
        f"/campaigns/{campaign_id}/deliveries/bulk", data={"csrf_token": token, **data},
        follow_redirects=True,
    )  # fmt: skip
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_bulk_resolves_uncertain_ticked_or_all_matching(
    app: Flask, login: Callable[..., FlaskClient], redis_url: str
) -> None:
    """Mark sent on ticked rows changes only the uncertain ones among them (a sent one ticked by
    hand is left alone); "all matching" with a country filter sends again every uncertain letter
    of that country and no other; each change has its event by the signed-in user, and the
    letters sent again are enqueued in Redis."""
    drive = seed(
        app,
        [Letter("uncertain", "FR"), Letter("uncertain", "FR"), Letter("uncertain", "DE"),
         Letter("sent", "FR", sent_after=H), Letter("uncertain", "IT")],
    )  # fmt: skip
    ids = drive.delivery_ids
    client = login("campaigner")
    html = _bulk(client, drive.campaign_id,
                 {"action": "mark_sent", "scope": "selected", "delivery_id": [ids[4], ids[3]]})  # fmt: skip
    assert "1 letter marked sent. 1 left as they were (not uncertain)." in html
    assert states(app, ids) == ["uncertain", "uncertain", "uncertain", "sent", "sent"]
    assert events(app, ids[4])[-1][1:] == (
        "sent",
        "user:1 campaigner@example.org",
        "marked sent by staff",
    )

    html = _bulk(client, drive.campaign_id, {"action": "resend", "scope": "all", "country": "FR"})
    assert "2 letters queued to be sent again." in html
    assert states(app, ids) == ["queued", "queued", "uncertain", "sent", "sent"]
    queued = redis.Redis.from_url(redis_url).llen("dramatiq:sending")
    assert queued >= 1


def test_bulk_needs_an_editor(app: Flask, login: Callable[..., FlaskClient]) -> None:
    """A viewer's bulk action is refused (403) and changes nothing."""
    drive = seed(app, [Letter("failed")])
    client = login("viewer")
    token = csrf_token_from(
        client.get(f"/campaigns/{drive.campaign_id}/deliveries").get_data(as_text=True)
    )
    resp = client.post(
        f"/campaigns/{drive.campaign_id}/deliveries/bulk",
        data={"csrf_token": token, "action": "retry", "scope": "all"},
    )
    assert resp.status_code == 403
    assert states(app, drive.delivery_ids) == ["failed"]


def test_retry_failed_follows_the_state_machine(app: Flask) -> None:
    """Only failed letters move (failed → queued, attempts counted afresh, one event each); an
    official no longer sendable is skipped; the official's corrected address is used and the
    event says so; a joint message is retried only whole; a finished drive sends again; a paused
    drive must be resumed first."""
    drive = seed(
        app,
        [
            Letter("failed", extra={"attempts": 10, "last_smtp_code": 550}),  # 0: retried
            Letter("failed"),  # 1: its official now do-not-contact
            Letter("sent", sent_after=H),  # 2: not failed
            Letter("failed", extra={"group_key": "joint-x", "role": "to"}),  # 3 ┐ whole
            Letter("failed", extra={"group_key": "joint-x", "role": "cc"}),  # 4 ┘ message
            Letter("failed", extra={"group_key": "joint-y", "role": "to"}),  # 5 ┐ part of
            Letter("sent", sent_after=H, extra={"group_key": "joint-y", "role": "cc"}),  # 6 ┘
            Letter("failed"),  # 7: address corrected in the directory
        ],
        status="finished",
    )
    ids = drive.delivery_ids
    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(Contact).where(Contact.id == drive.contact_ids[1]).values(do_not_contact=True)
        )
        session.execute(
            update(Contact)
            .where(Contact.id == drive.contact_ids[7])
            .values(email="fixed@europarl.example.org")
        )
    with app.app_context(), get_db().transaction() as session:
        result = control.retry_failed(
            session, drive.campaign_id, ids, actor="user:9 x", batch_size=10
        )
    assert (result.queued, result.skipped) == (4, 4)
    assert states(app, ids) == [
        "queued",
        "failed",
        "sent",
        "queued",
        "queued",
        "failed",
        "sent",
        "queued",
    ]
    with app.app_context():
        session = get_db().session
        first = session.get(Delivery, ids[0])
        assert first is not None
        assert first.attempts == 0
        assert session.get(Delivery, ids[7]).email == "fixed@europarl.example.org"  # type: ignore[union-attr]
        assert session.get(Campaign, drive.campaign_id).status == "sending"  # type: ignore[union-attr]
    assert events(app, ids[0])[-1] == ("failed", "queued", "user:9 x", "retried by staff")
    assert events(app, ids[7])[-1][3] == (
        "retried by staff (address now fixed@europarl.example.org, was member"
        f"{drive.campaign_id}.7@europarl.example.org)"
    )

    paused = seed(app, [Letter("failed")], status="paused", name="Paused drive")
    with (
        app.app_context(),
        get_db().transaction() as session,
        pytest.raises(control.ControlError, match="resume it first"),
    ):
        control.retry_failed(
            session, paused.campaign_id, paused.delivery_ids, actor="x", batch_size=10
        )
    assert states(app, paused.delivery_ids) == ["failed"]


def test_retried_letters_reach_the_smtp_server_once(
    app: Flask, login: Callable[..., FlaskClient], smtp_server: CaptureServer, worker: object
) -> None:
    """A drive whose letters failed at the server (550): once the server accepts again, *Retry*
    on all failed letters of the table sends each of them exactly once, to its address, through
    a real worker, and the drive finishes."""
    from tests.conftest import draft_campaign, launch_campaign

    smtp_server.handler.set_fault("550 5.1.1 No such user")
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    launch_campaign(app, campaign_id)
    with app.app_context():
        session = get_db().session

        def all_failed() -> bool:
            found = session.scalars(
                select(Delivery.state).where(Delivery.campaign_id == campaign_id)
            ).all()
            session.rollback()
            return len(found) == 6 and set(found) == {"failed"}

        wait_for(all_failed, timeout=30)
        addresses = set(
            session.scalars(select(Delivery.email).where(Delivery.campaign_id == campaign_id))
        )
    assert read_mailbox(smtp_server.handler.maildir) == []
    smtp_server.handler.clear_faults()

    client = login("campaigner")
    html = _bulk(client, campaign_id, {"action": "retry", "scope": "all", "state": "failed"})
    assert "6 letters queued to be retried." in html

    def finished() -> bool:
        with app.app_context():
            return get_db().session.get(Campaign, campaign_id).status == "finished"  # type: ignore[union-attr]

    wait_for(finished, timeout=30)
    received = read_mailbox(smtp_server.handler.maildir)
    assert sorted(m.envelope_to[0] for m in received) == sorted(addresses)
    with app.app_context():
        final = (
            get_db()
            .session.scalars(select(Delivery.state).where(Delivery.campaign_id == campaign_id))
            .all()
        )
    assert set(final) == {"sent"}
