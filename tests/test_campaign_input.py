"""Bad input is refused with a message staff can act on, and nothing half-done is left behind."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from contacts.bundled import load_bundled
from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from tests.conftest import csrf_token_from


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


def test_an_unknown_attribute_of_the_recipient_is_refused_at_launch_with_its_line(
    app: Flask,
) -> None:
    """`recipient.nickname` does not exist: the launch is refused naming the line, and no
    delivery is created."""
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)
            campaign_id = services.create_campaign(
                session,
                name="Attr",
                subject="Hi",
                body="{{ salutation }}\n\nDear {{ recipient.nickname }}\n",
                audience={"countries": ["MT"]},
            ).id
        with (
            pytest.raises(services.CampaignError, match=r"body, line 3: .*nickname"),
            db.transaction() as session,
        ):
            services.launch(session, campaign_id, actor="test", batch_size=10)
        with db.transaction() as session:
            assert session.scalar(select(func.count()).select_from(Delivery)) == 0
            assert session.get(Campaign, campaign_id).status == "draft"  # type: ignore[union-attr]


def test_launching_an_empty_audience_is_refused(app: Flask) -> None:
    """An audience that selects no one (no MEP from a country that does not exist) cannot be
    launched; the campaign stays a draft and no job is queued."""
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)
            campaign_id = services.create_campaign(
                session,
                name="Nobody",
                subject="Hi",
                body="{{ salutation }}",
                audience={"countries": ["XX"]},
            ).id
        with (
            pytest.raises(services.CampaignError, match="has no one who can be written to"),
            db.transaction() as session,
        ):
            services.launch(session, campaign_id, actor="test", batch_size=10)
        with db.transaction() as session:
            assert session.get(Campaign, campaign_id).status == "draft"  # type: ignore[union-attr]
            assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_a_campaign_is_launched_only_once(app: Flask) -> None:
    """A second launch of the same campaign is refused and adds no delivery."""
    with app.app_context():
        db = get_db()
        with db.transaction() as session:
            load_bundled(session)
            campaign_id = services.create_campaign(
                session,
                name="Once",
                subject="Hi",
                body="{{ salutation }}",
                audience={"countries": ["MT"]},
            ).id
        with db.transaction() as session:
            first = services.launch(session, campaign_id, actor="test", batch_size=10)
        with (
            pytest.raises(services.CampaignError, match="already been launched"),
            db.transaction() as session,
        ):
            services.launch(session, campaign_id, actor="test", batch_size=10)
        with db.transaction() as session:
            assert (
                session.scalar(select(func.count()).select_from(Delivery)) == first.deliveries == 6
            )


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
    with app.app_context(), get_db().transaction() as session:
        campaign_id = services.create_campaign(
            session,
            name="Empty",
            subject="Hi",
            body="{{ salutation }}",
            audience={"countries": ["MT"]},
        ).id  # no contact loaded: the audience is empty
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    token = csrf_token_from(page)
    resp = client.post(
        f"/campaigns/{campaign_id}/launch", data={"csrf_token": token}, follow_redirects=True
    )
    assert resp.status_code == 200
    assert "Not launched: the audience" in resp.get_data(as_text=True)
    with app.app_context():
        assert get_db().session.scalar(select(func.count()).select_from(Delivery)) == 0
