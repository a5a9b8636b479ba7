"""Bad input is refused with a message staff can act on, and nothing half-done is left behind."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from tests.conftest import (
    campaign_status,
    count_rows,
    csrf_token_from,
    draft_campaign,
    launch_campaign,
)


def test_a_template_syntax_error_is_refused_naming_its_line(app: Flask) -> None:
    """An unclosed tag on line 3 of the body is refused at save time with "body, line 3"."""
    with (
        app.app_context(),
        get_db().transaction() as session,
        pytest.raises(services.CampaignError, match=r"body, line 3: .*"),
    ):
        services.create_campaign(
            session,
            name="Broken",
            subject="Hi",
            body="{{ salutation }}\n\nWe ask {% if %} you\n",
            audience={},
        )


def test_an_undefined_placeholder_is_refused_naming_it_and_its_line(app: Flask) -> None:
    """A misspelt placeholder on line 2 is refused with its name and line, never rendered empty."""
    with (
        app.app_context(),
        get_db().transaction() as session,
        pytest.raises(services.CampaignError, match=r"body, line 2: 'salutaton' is not defined"),
    ):
        services.create_campaign(
            session, name="Typo", subject="Hi", body="Hello\n{{ salutaton }}\n", audience={}
        )


def test_an_unknown_attribute_of_the_recipient_is_refused_when_saved_with_its_line(
    app: Flask,
) -> None:
    """`recipient.nickname` does not exist: the letter is tried on a sample recipient when it
    is saved, and refused naming the line and the fields there are."""
    with pytest.raises(
        services.CampaignError, match=r"body, line 3: recipient has no field 'nickname'; it has"
    ):
        draft_campaign(
            app, {"countries": ["MT"]}, body="{{ salutation }}\n\nDear {{ recipient.nickname }}\n"
        )
    assert count_rows(app, Delivery) == 0


def test_launching_an_empty_audience_is_refused(app: Flask) -> None:
    """An audience that selects no one (a contact id that does not exist) cannot be launched;
    the campaign stays a draft and no job is queued."""
    campaign_id = draft_campaign(app, {"filter": "id:999999"})
    with pytest.raises(services.CampaignError, match="has no one who can be written to"):
        launch_campaign(app, campaign_id)
    assert campaign_status(app, campaign_id) == "draft"
    assert count_rows(app, Delivery) == 0


def test_a_campaign_is_launched_only_once(app: Flask) -> None:
    """A second launch of the same campaign is refused and adds no delivery."""
    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    first = launch_campaign(app, campaign_id)
    with pytest.raises(services.CampaignError, match="already been launched"):
        launch_campaign(app, campaign_id)
    assert count_rows(app, Delivery) == first.deliveries == 6


def test_an_unknown_audience_field_is_refused(app: Flask) -> None:
    """A misspelt audience field is an error, not a silently wider audience."""
    with (
        app.app_context(),
        get_db().transaction() as session,
        pytest.raises(services.CampaignError, match="unknown audience field"),
    ):
        services.create_campaign(
            session, name="X", subject="Hi", body="Hi", audience={"contries": ["FR"]}
        )


def test_the_form_shows_the_template_error_and_saves_nothing(
    login: Callable[..., FlaskClient], app: Flask
) -> None:
    """Through the admin form, a syntax error comes back on the page with its line; no campaign row."""
    client = login("campaigner")
    token = csrf_token_from(client.get("/campaigns/new").get_data(as_text=True))
    resp = client.post(
        "/campaigns/new",
        data={
            "csrf_token": token,
            "name": "Form",
            "subject": "Hello",
            "body": "{{ salutation }}\n{{ oops",
        },
    )
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "body, line 2" in page
    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_launch_through_the_console_refuses_an_empty_audience_with_a_message(
    login: Callable[..., FlaskClient], app: Flask
) -> None:
    """The launch button on a campaign whose audience is empty flashes why, and queues nothing."""
    client = login("campaigner")
    # No directory loaded: the audience is empty.
    campaign_id = draft_campaign(app, {"countries": ["MT"]}, load_directory=False)
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    token = csrf_token_from(page)
    resp = client.post(
        f"/campaigns/{campaign_id}/launch", data={"csrf_token": token}, follow_redirects=True
    )
    assert resp.status_code == 200
    assert "Not launched: the audience" in resp.get_data(as_text=True)
    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_an_audience_naming_an_unknown_country_is_refused_when_saved(app: Flask) -> None:
    """A typo in the audience is an error at save time with its column, not an empty audience."""
    with pytest.raises(
        services.CampaignError, match=r"audience: unknown country 'XX' \(at column 1\)"
    ):
        draft_campaign(app, {"filter": "country:XX"})
