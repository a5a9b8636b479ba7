"""The periodic IMAP poll: a timer in every worker process, one poll job per interval.

The same timer as the reconciler's (workers/timer.py): each tick, the worker process that wins a
Redis lock enqueues a `poll_imap` job. Should two polls still overlap (a slow poll outliving its interval), the claims
of outreach.tracking.imap keep them from fetching the same message.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import redis
from flask import Flask

from outreach.db import Database
from outreach.settings import Settings
from outreach.tracking.imap import POLL_IMAP, POLL_LOCK_KEY, ImapConfig, ImapError, poll
from workers.timer import every

log = logging.getLogger(__name__)


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, Any]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    # The timer runs only where a mailbox is configured (an interval of 0 turns it off).
    interval = settings.imap_interval if settings.imap_host else 0
    every(broker, settings.effective_redis_url, interval, POLL_LOCK_KEY, POLL_IMAP)

    def poll_imap_actor() -> None:
        try:
            config = ImapConfig.from_settings(settings)
        except ImapError:
            return  # not configured: a job left from an earlier configuration does nothing
        client = redis.Redis.from_url(settings.effective_redis_url)
        try:
            poll(db, config, client)
        except ImapError as exc:
            # The next tick tries again; a refused login is an operator's matter, logged.
            log.error("%s", exc)
        finally:
            client.close()

    actor = dramatiq.actor(
        broker=broker,
        actor_name=POLL_IMAP.actor_name,
        queue_name=POLL_IMAP.queue_name,
        max_retries=0,  # the next tick polls again
        time_limit=10 * 60 * 1000,
    )(poll_imap_actor)
    return {POLL_IMAP.actor_name: actor}
