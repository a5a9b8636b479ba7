"""The periodic IMAP poll: a timer in every worker process, one poll job per interval.

Like the reconciler's timer (workers/maintenance.py), each worker process runs a thread; each
tick, the one that wins a Redis lock (SET NX with an expiry of one interval) enqueues a
`poll_imap` job. Should two polls still overlap (a slow poll outliving its interval), the claims
of outreach.tracking.imap keep them from fetching the same message.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
import redis
from flask import Flask

from outreach.db import Database
from outreach.jobs import broker_dispatcher
from outreach.settings import Settings
from outreach.tracking.imap import POLL_IMAP, POLL_LOCK_KEY, ImapConfig, ImapError, poll

log = logging.getLogger(__name__)


class ImapTimer(dramatiq.Middleware):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if not self.settings.imap_host or self.settings.imap_interval <= 0:
            return
        self._thread = threading.Thread(
            target=self._run, args=(broker,), name="imap-timer", daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, broker: dramatiq.Broker) -> None:
        interval = self.settings.imap_interval
        dispatch = broker_dispatcher(broker)
        client = redis.Redis.from_url(self.settings.effective_redis_url)
        try:
            while not self._stop.wait(interval):
                try:
                    if client.set(POLL_LOCK_KEY, "1", nx=True, ex=interval):
                        dispatch(POLL_IMAP, ())
                except redis.RedisError:
                    log.warning("IMAP timer: Redis unavailable; will try again")
        finally:
            client.close()


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, Any]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    broker.add_middleware(ImapTimer(settings))

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
