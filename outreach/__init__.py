"""Outreach: the Flask application and the campaign domain.

`create_app(config=None)` builds the app from one Settings object: the database, login, CSRF,
migrations, the job dispatcher and the blueprints. Nothing connects to a database or a broker at
import time or in create_app; connections open on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from outreach.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_settings(config: Settings | Mapping[str, Any] | None = None) -> Settings:
    if isinstance(config, Settings):
        return config.with_secret()
    return Settings.from_env(**dict(config or {})).with_secret()


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(config)
    settings.instance.mkdir(parents=True, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=str(settings.instance),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        OUTREACH=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.cookie_secure,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session
    )
    if settings.proxy_hops > 0:
        # Only headers set by our own proxies may say who the client is: with N trusted hops,
        # ProxyFix takes the Nth address from the right of X-Forwarded-For, which a client cannot
        # forge (the per-IP rate limits and the burst rule key on it).
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )
    from outreach import extensions

    app.session_interface = extensions.CookieSessions()
    extensions.init_app(app, settings)

    from outreach.web import register_blueprints

    register_blueprints(app)

    from outreach.cli import register_cli

    register_cli(app)
    return app
