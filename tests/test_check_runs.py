"""The check page with a stored check (outreach.campaigns.check_runs): a letter of more than
INLINE_COPIES copies is checked by a real dramatiq Worker while the page shows its progress; the
report it stores is the one the check of every copy gives in the request (the slow path), the
page shows it without rendering any copy while nothing it read has changed, and launch trusts its
digest. A small letter is checked in the request. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns import check_runs, services
from outreach.campaigns.check_runs import LetterCheck
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from tests.conftest import (
    count_copies_checked,
    count_rows,
    csrf_token_from,
    draft_campaign,
    running_worker,
    wait_for,
)

BODY = "{{ salutation }}\n\nAs a member for {{ recipient.country }} ({{ recipient.national_party }}), please act."


def _row(app: Flask, campaign_id: int) -> LetterCheck:
    with app.app_context():
        row = get_db().session.get(LetterCheck, campaign_id)
        assert row is not None
        get_db().session.expunge(row)
        return row


def _slow_report(app: Flask, campaign_id: int) -> services.LintReport:
    """The check of every copy as the page ran it before, in one go (not committed)."""
    with app.app_context():
        session = get_db().session
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        report = services.lint(session, campaign, default_from=app.config["OUTREACH"].mail_from)
        session.rollback()
        return report


def test_a_large_letter_is_checked_by_a_worker_and_its_stored_report_launches_it(
    app: Flask, login: Callable[..., FlaskClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every MEP (over 700 copies): the page renders no copy and shows the progress of a queued
    check; a real Worker runs it; the page then shows the report, equal to the slow path's
    (counts, languages, identical share, findings by official, digest), renders no copy on later
    views, and its launch button, with the stored digest, launches the drive."""
    campaign_id = draft_campaign(app, {"filter": "kind:mep"}, body=BODY)
    client = login("campaigner")
    rendered = count_copies_checked(monkeypatch)
    page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert rendered == []
    assert "Checking every copy" in page
    assert "copies rendered" not in page
    assert "check.js" in page
    status = client.get(f"/campaigns/{campaign_id}/check/status.json").get_json()
    assert status["state"] == "queued"
    assert status["total"] > check_runs.INLINE_COPIES
    # A second view while it waits queues nothing more and renders nothing.
    client.get(f"/campaigns/{campaign_id}/check")
    assert rendered == []

    with running_worker(app, threads=1):
        wait_for(lambda: _row(app, campaign_id).state == "done", timeout=120)
    row = _row(app, campaign_id)
    assert row.done == row.total == status["total"]
    del rendered[:]

    page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert rendered == []
    slow = _slow_report(app, campaign_id)
    stored = check_runs.decode_report(row.report or {})
    assert (stored.recipients, stored.errors, stored.warnings, stored.digest) == (
        slow.recipients, slow.errors, slow.warnings, slow.digest,
    )  # fmt: skip
    assert stored.languages == slow.languages
    assert stored.identical_share == slow.identical_share
    assert stored.with_findings == slow.with_findings[: check_runs.FINDINGS_KEPT]
    assert stored.with_findings_count == len(slow.with_findings)
    assert f"{slow.recipients}</b>copies rendered" in page
    assert f"{slow.warnings}</b><span" in page
    for item in slow.with_findings[:3]:
        assert item.display_name.replace("'", "&#39;") in page
    digest = re.search(r'name="lint_digest" value="(\w+)"', page)
    assert digest
    assert digest.group(1) == slow.digest
    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.check_digest == slow.digest

    del rendered[:]  # the slow path above rendered them
    resp = client.post(
        f"/campaigns/{campaign_id}/launch",
        data={"csrf_token": csrf_token_from(page), "lint_digest": digest.group(1), "confirm": "y"},
    )
    assert resp.headers["Location"] == f"/campaigns/{campaign_id}"
    assert rendered == []  # launch trusted the stored check
    assert count_rows(app, Delivery) == slow.recipients


def test_a_change_to_the_letter_starts_a_new_check_and_the_old_report_is_not_shown(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """After a stored check, editing the letter changes its fingerprint: the page shows that a new
    check is under way, not the old report; the worker's new report is the new letter's."""
    campaign_id = draft_campaign(app, {"filter": "kind:mep"}, body=BODY)
    client = login("campaigner")
    client.get(f"/campaigns/{campaign_id}/check")
    with running_worker(app, threads=1):
        wait_for(lambda: _row(app, campaign_id).state == "done", timeout=120)
        first = _row(app, campaign_id)
        with app.app_context(), get_db().transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            campaign.body_template = "{{ salutation }}\n\nSee [the text](http://example.org/plain)."
        page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
        assert "changed since the last check" in page
        assert "copies rendered" not in page
        wait_for(lambda: _row(app, campaign_id).state == "done", timeout=120)
    second = _row(app, campaign_id)
    assert second.fingerprint != first.fingerprint
    page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert "link http://example.org/plain is not https" in page
    assert (
        check_runs.decode_report(second.report or {}).digest
        == _slow_report(app, campaign_id).digest
    )


def test_a_small_letter_is_checked_in_the_request_once(
    app: Flask, login: Callable[..., FlaskClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six copies (the Maltese MEPs) are checked in the request, without a worker; the next view
    shows the stored report and renders none; "Check every copy again" renders them again."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]}, body="Dear Member,\n\nPlease act.")
    client = login("campaigner")
    rendered = count_copies_checked(monkeypatch)
    page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert "6</b>copies rendered" in page
    assert "100% of the copies are identical" in page
    assert rendered == [6]
    again = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert rendered == [6]
    assert "6</b>copies rendered" in again
    resp = client.post(
        f"/campaigns/{campaign_id}/check", data={"csrf_token": csrf_token_from(again)}
    )
    assert resp.status_code == 303
    client.get(f"/campaigns/{campaign_id}/check")
    assert rendered == [6, 6]


def test_a_viewer_cannot_start_a_check_again(app: Flask, login: Callable[..., FlaskClient]) -> None:
    """Starting the check again changes data: a viewer is refused."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    client = login("viewer")
    page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert "Check every copy again" not in page
    resp = client.post(
        f"/campaigns/{campaign_id}/check", data={"csrf_token": csrf_token_from(page)}
    )
    assert resp.status_code == 403


def test_a_check_whose_job_was_lost_is_started_again_by_the_next_view(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The queued check's message is lost with Redis; while the run has reported within two
    minutes the page keeps waiting for it, after that the next view queues it again, and a real
    Worker completes it."""
    campaign_id = draft_campaign(app, {"filter": "kind:mep"}, body=BODY)
    client = login("campaigner")
    client.get(f"/campaigns/{campaign_id}/check")
    with redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url) as r:
        r.flushdb()  # the job is lost
    first = _row(app, campaign_id)
    client.get(f"/campaigns/{campaign_id}/check")
    assert _row(app, campaign_id).requested_at == first.requested_at  # still waiting
    with app.app_context(), get_db().transaction() as session:
        row = session.get(LetterCheck, campaign_id)
        assert row is not None
        row.heartbeat_at = row.heartbeat_at - check_runs.STALLED - timedelta(seconds=1)
    page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert "Checking every copy" in page
    assert _row(app, campaign_id).requested_at != first.requested_at
    with running_worker(app, threads=1):
        wait_for(lambda: _row(app, campaign_id).state == "done", timeout=120)
    page = client.get(f"/campaigns/{campaign_id}/check").get_data(as_text=True)
    assert "copies rendered" in page
