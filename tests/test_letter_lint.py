"""Proof before launch: every copy is rendered in a dry run, and launch obeys what it finds."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

import outreach.letters.lint as lint_module
from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from tests.conftest import (
    count_copies_checked,
    count_rows,
    csrf_token_from,
    draft_campaign,
    launch_campaign,
)


def _lint(app: Flask, campaign_id: int) -> services.LintReport:
    with app.app_context():
        session = get_db().session
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return services.lint(session, campaign)


def _findings(report: services.LintReport, code: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in report.with_findings:
        for f in item.findings:
            if f.code == code:
                out.setdefault(item.display_name, []).append(f.message)
    return out


def test_each_copy_is_checked_for_language_fallbacks_empty_fields_and_plain_http_links(
    app: Flask,
) -> None:
    """An English-only letter to Maltese and Spanish-speaking MEPs: the Maltese read English (no
    warning), the others are told they get a fallback; a field the letter uses but an official
    lacks is named; a http:// link is flagged."""
    campaign_id = draft_campaign(
        app,
        {"filter": "country:MT or (country:ES and body:DROI)"},
        body="{{ salutation }}\n\nYour party, {{ recipient.national_party }}, can act. "
        "See [our report](http://example.org/report).",
    )
    report = _lint(app, campaign_id)
    assert report.errors == 0
    languages = _findings(report, "language")
    assert languages
    assert all(
        m == ["reads es; gets the en version (the letter has no other)"] for m in languages.values()
    )
    assert report.languages["en"] == report.recipients
    links = _findings(report, "link")
    assert len(links) == report.recipients
    assert next(iter(links.values())) == ["link http://example.org/report is not https"]
    assert report.identical_share == 0.0


def test_identical_copies_above_the_threshold_are_a_warning(app: Flask) -> None:
    campaign_id = draft_campaign(app, {"countries": ["MT"]}, body="Dear Member,\n\nPlease act.")
    report = _lint(app, campaign_id)
    assert report.identical_share == 1.0
    assert [f.code for f in report.campaign_findings] == ["identical"]
    assert len(report.identical_groups[0]) == 6


def test_launch_is_refused_on_errors_and_needs_the_digest_of_the_warnings_read(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy over the size limit is an error: no launch at all. Warnings: a launch without the
    digest, or with the digest of another report, is refused; with the right one it goes."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]}, body="Dear Member,\n\nPlease act.")
    monkeypatch.setattr(lint_module, "MAX_MESSAGE_BYTES", 100)
    with pytest.raises(
        services.CampaignError, match=r"found 6 error\(s\), e.g. .*over the 0 KB limit"
    ):
        launch_campaign(app, campaign_id)
    monkeypatch.setattr(lint_module, "MAX_MESSAGE_BYTES", 512 * 1024)
    with pytest.raises(services.CampaignError, match="warning"):
        launch_campaign(app, campaign_id, confirm_warnings=False)
    with (
        app.app_context(),
        get_db().transaction() as session,
        pytest.raises(services.CampaignError, match="confirm them"),
    ):
        services.launch(session, campaign_id, actor="t", batch_size=10, confirm_warnings="0" * 16)
    assert count_rows(app, Delivery) == 0
    assert launch_campaign(app, campaign_id).deliveries == 6


def test_in_the_console_warnings_are_read_on_the_check_page_and_confirmed_to_launch(
    app: Flask, login: Callable[..., FlaskClient]
) -> None:
    """The launch button of a letter with warnings leads to the check page; launching from it
    without ticking the confirmation does nothing; with it, the six letters are queued."""
    client = login("campaigner")
    campaign_id = draft_campaign(app, {"countries": ["MT"]}, body="Dear Member,\n\nPlease act.")
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    first = client.post(
        f"/campaigns/{campaign_id}/launch", data={"csrf_token": csrf_token_from(page)}
    )
    assert first.headers["Location"] == f"/campaigns/{campaign_id}/check"
    check = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "6</b>copies rendered" in check
    assert "100% of the copies are identical" in check
    digest = re.search(r'name="lint_digest" value="(\w+)"', check)
    assert digest
    token = csrf_token_from(check)
    unticked = client.post(
        f"/campaigns/{campaign_id}/launch",
        data={"csrf_token": token, "lint_digest": digest.group(1)},
    )
    assert unticked.headers["Location"].endswith("/check")
    assert count_rows(app, Delivery) == 0
    ticked = client.post(
        f"/campaigns/{campaign_id}/launch",
        data={"csrf_token": token, "lint_digest": digest.group(1), "confirm": "y"},
    )
    assert ticked.headers["Location"] == f"/campaigns/{campaign_id}"
    assert count_rows(app, Delivery) == 6


def _stored_check(app: Flask, campaign_id: int) -> str:
    """Run the check as the check page does (remembered, committed); its digest."""
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        report = services.lint(session, campaign)
        assert campaign.check_digest == report.digest
        assert campaign.check_errors == 0
        return report.digest


def _launch(app: Flask, campaign_id: int, digest: str | None) -> services.LaunchResult:
    with app.app_context(), get_db().transaction() as session:
        return services.launch(
            session, campaign_id, actor="t", batch_size=10, confirm_warnings=digest
        )


def test_launch_trusts_the_check_staff_ran_while_nothing_it_read_has_changed(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the check page's check, launch renders no copy again (for 100,000 officials that
    was most of its time): the stored digest stands for the warnings, and a wrong one is still
    refused."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]}, body="Dear Member,\n\nPlease act.")
    digest = _stored_check(app, campaign_id)
    checked = count_copies_checked(monkeypatch)
    with pytest.raises(services.WarningsNotConfirmed):
        _launch(app, campaign_id, "0" * 16)
    assert _launch(app, campaign_id, digest).deliveries == 6
    assert checked == []
    assert count_rows(app, Delivery) == 6


@pytest.mark.parametrize("change", ["contact edited", "contact re-imported", "letter edited"])
def test_a_change_since_the_check_makes_launch_check_every_copy_again(
    app: Flask, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """An official edited in the console, updated by an import (bulk UPDATE), or the letter
    changed after the check: the stored verdict no longer applies, launch checks all six copies
    itself, and a copy that now fails the check stops the launch."""
    from sqlalchemy import select, update

    from contacts.models import Contact

    campaign_id = draft_campaign(app, {"countries": ["MT"]}, body="{{ salutation }}\n\nPlease act.")
    digest = _stored_check(app, campaign_id)
    with app.app_context(), get_db().transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        first = session.scalars(
            select(Contact).where(Contact.country_code == "MT").order_by(Contact.id)
        ).first()
        assert first is not None
        if change == "contact edited":
            first.position = "Member of the European Parliament (edited)"
        elif change == "contact re-imported":
            session.execute(update(Contact), [{"id": first.id, "organisation": "Renamed"}])
        else:
            campaign.body_template = "{{ salutation }}\n\nPlease act now."
    checked = count_copies_checked(monkeypatch)
    monkeypatch.setattr(lint_module, "MAX_MESSAGE_BYTES", 100)
    with pytest.raises(services.CampaignError, match=r"found 6 error\(s\)"):
        _launch(app, campaign_id, digest)
    assert checked == [6]
    assert count_rows(app, Delivery) == 0
