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
