"""Binding the extensions to an app: database, job dispatch, login, CSRF, migrations, the
languages of the public pages (Flask-Babel) and the rate limits of the public form
(Flask-Limiter, in Redis)."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from babel import Locale
from flask import Flask, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from contacts.base import Base
from outreach.db import Database
from outreach.jobs import broker_dispatcher, make_broker
from outreach.settings import Settings

login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate()
babel = Babel()
# One limiter for the process; init_app points it at the app's Redis. The limits themselves are
# on the public views (outreach.web.public), read from the settings at each request.
limiter = Limiter(key_func=get_remote_address, strategy="fixed-window")
PUBLIC_LANGUAGES = ("en", "fr", "de")
# The views that count their own rate limits, both in one Redis call (outreach.web.public_limits):
# Flask-Limiter's middleware is not run for them (see _skip_limiter_middleware).
OWN_LIMITS = frozenset({"public.campaign", "public.embed"})
# A signature is a few hundred bytes: the public pages refuse bodies above this at once, before
# the rate limiter reads the form (the console keeps the app-wide 20 MB for imports).
PUBLIC_MAX_BODY = 16 * 1024
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class _MigrationTarget:
    """What Flask-Migrate needs of a 'db': the metadata. Our env.py takes the engine from `Database`."""

    metadata: MetaData = Base.metadata


def import_models() -> None:
    """Import every model module so that Base.metadata knows every table."""
    import contacts.models  # noqa: F401
    import outreach.accounts.models
    import outreach.api.models
    import outreach.audit
    import outreach.campaigns.approval
    import outreach.campaigns.check_runs
    import outreach.campaigns.models
    import outreach.reports.snapshots
    import outreach.supporters.models
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
    init_public_extensions(app, settings)
    migrate.init_app(app, _MigrationTarget(), directory=str(MIGRATIONS_DIR), render_as_batch=True)

    from outreach.accounts.models import User

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        try:
            user = get_db().session.get(User, int(user_id))
        except ValueError:
            return None
        return user if user is not None and user.active else None


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a request without the cookie (a supporter on
    a public page has none) gets its empty session without the signer being built for it."""

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


_LOCALES = {code: Locale.parse(code) for code in PUBLIC_LANGUAGES}


@functools.lru_cache(maxsize=256)
def _browser_language(accept_language: str) -> str:
    # Browsers send a handful of distinct headers: each is parsed once per process.
    accepted = parse_accept_header(accept_language, LanguageAccept)
    return accepted.best_match(PUBLIC_LANGUAGES) or "en"


def select_locale() -> Locale:
    """The page's language: an explicit ?lang= (the switch on the page), else the browser's."""
    asked = request.args.get("lang", "")
    if asked not in PUBLIC_LANGUAGES:
        asked = _browser_language(request.headers.get("Accept-Language", ""))
    return _LOCALES[asked]


def _skip_limiter_middleware(app: Flask) -> None:
    """Flask-Limiter's before_request looks for the limits of every request; even for a view a
    request filter excuses, that took 45 µs of the 1,900 µs of CPU a signature took in a gunicorn
    worker. The views of OWN_LIMITS count
    their own limits, so for them it is not called at all; every other view keeps it (the API's
    per-token limit is a blueprint limit, which only the middleware applies)."""
    middleware = limiter._check_request_limit
    hooks = app.before_request_funcs.setdefault(None, [])
    if middleware not in hooks:
        raise RuntimeError("Flask-Limiter's before_request hook was not found: check its version")

    @functools.wraps(middleware)
    def except_own_limits() -> None:
        if request.endpoint not in OWN_LIMITS:
            middleware()

    hooks[hooks.index(middleware)] = except_own_limits


def init_public_extensions(app: Flask, settings: Settings) -> None:
    babel.init_app(
        app, locale_selector=select_locale, default_translation_directories="translations"
    )

    @app.before_request
    def _small_public_bodies() -> None:
        # Before the limiter's own before_request (registered below), which may read the form.
        if request.blueprint == "public":
            request.max_content_length = PUBLIC_MAX_BODY

    app.config.update(
        RATELIMIT_STORAGE_URI=settings.effective_redis_url,
        RATELIMIT_KEY_PREFIX="outreach-limits",
        # Redis down: let supporters sign rather than fail the form; the burst check (in the
        # database) still holds floods for review.
        RATELIMIT_SWALLOW_ERRORS=True,
        # No X-RateLimit-* headers on every answer: each costs Redis round trips on every
        # request (two a limit); a refused request gets Retry-After below.
        RATELIMIT_HEADERS_ENABLED=False,
    )
    limiter.init_app(app)
    _skip_limiter_middleware(app)

    @app.after_request
    def _retry_after(response: Response) -> Response:
        limit = limiter.current_limit if response.status_code == 429 else None
        if limit is not None and "Retry-After" not in response.headers:
            try:
                wait = max(1, int(limit.reset_at - time.time()))
            except Exception:  # Redis gone: the window length still tells roughly when
                wait = int(limit.limit.get_expiry())
            response.headers["Retry-After"] = str(wait)
        return response


def get_db() -> Database:
    db: Database = current_app.extensions["outreach.db"]
    return db


def get_settings() -> Settings:
    settings: Settings = current_app.config["OUTREACH"]
    return settings
