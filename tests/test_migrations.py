"""The Alembic revisions build the whole schema from nothing and take it away again."""

from __future__ import annotations

from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from contacts.base import Base
from outreach.extensions import get_db


def test_migrations_downgrade_to_empty_and_upgrade_to_the_models(app: Flask) -> None:
    """Downgrading to base leaves no table; upgrading to head creates exactly the models' tables
    with their columns, on the backend under test (SQLite or PostgreSQL)."""
    with app.app_context():
        engine = get_db().engine
        get_db().dispose()
        downgrade(revision="base")
        remaining = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        upgrade()
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) - {"alembic_version"} == set(Base.metadata.tables)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name


def test_migrations_down_and_up_again_keep_the_rows_of_tables_they_rebuild(app: Flask) -> None:
    """A launched campaign's deliveries and their events survive a downgrade to 0006 and an
    upgrade back to head. On SQLite, Alembic rebuilds a table it alters (copy, drop, rename); with
    foreign keys enforced, dropping `campaigns` would delete every delivery and event by cascade,
    so migrations run with them off and the references are checked at the end."""
    from sqlalchemy import func, select, text

    from outreach.campaigns.models import Delivery, DeliveryEvent
    from tests.conftest import draft_campaign, launch_campaign

    campaign_id = draft_campaign(app, {"countries": ["MT"]})
    assert launch_campaign(app, campaign_id).deliveries == 6
    with app.app_context():
        get_db().dispose()
        downgrade(revision="0006")
        upgrade()
        session = get_db().session
        assert session.scalar(select(func.count()).select_from(Delivery)) == 6
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 6
        campaigns = session.execute(text("SELECT count(*) FROM campaigns")).scalar()
        assert campaigns == 1
