"""A periodic job across all worker processes: every process runs a timer thread; each tick, the
one that wins a Redis lock (SET NX with an expiry of one interval) enqueues the job, so however
many workers run, the job is enqueued about once per interval. The reconciler and the IMAP poll
use it; their actors are idempotent, so a rare double tick does no harm."""

from __future__ import annotations

import logging
import threading

import dramatiq
import redis

from outreach.jobs import Job, broker_dispatcher

log = logging.getLogger(__name__)


class LockedTimer(dramatiq.Middleware):
    """Enqueues `job` once per `interval` seconds across the workers sharing `redis_url`;
    an interval of 0 or less turns it off."""

    def __init__(self, redis_url: str, interval: float, lock_key: str, job: Job) -> None:
        self.redis_url = redis_url
        self.interval = interval
        self.lock_key = lock_key
        self.job = job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.interval <= 0:
            return
        self._thread = threading.Thread(
            target=self._run, args=(broker,), name=f"{self.job.actor_name}-timer", daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, broker: dramatiq.Broker) -> None:
        dispatch = broker_dispatcher(broker)
        client = redis.Redis.from_url(self.redis_url)
        try:
            while not self._stop.wait(self.interval):
                try:
                    if client.set(self.lock_key, "1", nx=True, ex=max(1, int(self.interval))):
                        dispatch(self.job, ())
                except redis.RedisError:
                    log.warning("%s timer: Redis unavailable; will try again", self.job.actor_name)
        finally:
            client.close()
