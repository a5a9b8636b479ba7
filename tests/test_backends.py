"""The run uses the backends it was asked to use: no silent fallback to SQLite or embedded Redis."""

from __future__ import annotations

import redis
from flask import Flask

from outreach.extensions import get_db
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL


def test_the_database_under_test_is_the_one_requested(app: Flask) -> None:
    """With OUTREACH_TEST_DATABASE_URL set, the app talks to PostgreSQL; without it, to SQLite."""
    with app.app_context():
        dialect = get_db().engine.dialect.name
        version = get_db().session.connection().exec_driver_sql("SELECT 1").scalar()
    assert version == 1
    assert dialect == ("postgresql" if TEST_DATABASE_URL.startswith("postgresql") else "sqlite")


def test_the_redis_under_test_is_the_one_requested(app: Flask) -> None:
    """With OUTREACH_TEST_REDIS_URL set, jobs go to that server; without it, to the embedded one."""
    url = app.config["OUTREACH"].effective_redis_url
    if TEST_REDIS_URL:
        assert url == TEST_REDIS_URL
    else:
        assert url.startswith("redis://127.0.0.1:")
        assert not url.startswith("redis://127.0.0.1:6379")
    client = redis.Redis.from_url(url)
    assert client.ping()
    client.close()
