"""Jobs reach Redis only after the transaction that created their rows commits."""

from __future__ import annotations

import redis
from flask import Flask

from outreach.extensions import get_db
from outreach.jobs import SEND_BATCH, defer


def _queued_messages(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(f"dramatiq:{SEND_BATCH.queue_name}"))
    finally:
        client.close()


def test_a_deferred_job_is_enqueued_after_commit_and_not_before(app: Flask, redis_url: str) -> None:
    """While the transaction is open Redis holds nothing; right after commit it holds the job."""
    with app.app_context():
        session = get_db().factory()
        defer(session, SEND_BATCH, [1, 2, 3])
        session.flush()
        assert _queued_messages(redis_url) == 0
        session.commit()
        session.close()
    assert _queued_messages(redis_url) == 1


def test_a_rolled_back_transaction_enqueues_nothing(app: Flask, redis_url: str) -> None:
    """A request that fails after deferring a job leaves Redis untouched, and the next commit of
    the same session does not resurrect the forgotten job."""
    with app.app_context():
        session = get_db().factory()
        defer(session, SEND_BATCH, [4])
        session.rollback()
        session.commit()
        session.close()
    assert _queued_messages(redis_url) == 0
