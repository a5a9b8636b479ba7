"""Binding the extensions to an app: database, job dispatch, login, CSRF and migrations."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

from contacts.base import Base
from outreach.db import Database
from outreach.jobs import broker_dispatcher, make_broker
from outreach.settings import Settings

login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate()
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class _MigrationTarget:
    """What Flask-Migrate needs of a 'db': the metadata. Our env.py takes the engine from `Database`."""

    metadata: MetaData = Base.metadata


def import_models() -> None:
    """Import every model module so that Base.metadata knows every table."""
    import contacts.models  # noqa: F401
    import outreach.accounts.models
    import outreach.campaigns.models
    import outreach.tracking.models  # noqa: F401


def init_app(app: Flask, settings: Settings) -> None:
    import_models()
    broker = make_broker(settings.effective_redis_url)
    db = Database(settings.effective_database_url, dispatcher=broker_dispatcher(broker))
    db.init_app(app)
    app.extensions["outreach.broker"] = broker

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see this page."
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    migrate.init_app(app, _MigrationTarget(), directory=str(MIGRATIONS_DIR), render_as_batch=True)

    from outreach.accounts.models import User

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        try:
            user = get_db().session.get(User, int(user_id))
        except ValueError:
            return None
        return user if user is not None and user.active else None


def get_db() -> Database:
    db: Database = current_app.extensions["outreach.db"]
    return db


def get_settings() -> Settings:
    settings: Settings = current_app.config["OUTREACH"]
    return settings
