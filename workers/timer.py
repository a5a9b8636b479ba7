"""Periodic jobs across all worker processes: every process runs a timer thread per job; each
tick, the one that wins a Redis lock (SET NX with an expiry of one interval) enqueues the job, so
however many workers run, each job is enqueued about once per interval. The reconciler and the
IMAP poll use it; their actors are idempotent, so a rare double tick does no harm.

One middleware (`PeriodicJobs`) holds every job of a broker: `every` adds a job to it, adding the
middleware on first use (dramatiq warns when two middlewares of one type are added).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import dramatiq
import redis

from outreach.jobs import Job, broker_dispatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """`job` enqueued once per `interval` seconds, under the Redis lock `lock_key`."""

    job: Job
    interval: float
    lock_key: str


class PeriodicJobs(dramatiq.Middleware):
    """The timers of one broker's periodic jobs, started with the worker and stopped with it."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.jobs: list[Periodic] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        for periodic in self.jobs:
            thread = threading.Thread(
                target=self._run,
                args=(broker, periodic),
                name=f"{periodic.job.actor_name}-timer",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, broker: dramatiq.Broker, periodic: Periodic) -> None:
        dispatch = broker_dispatcher(broker)
        client = redis.Redis.from_url(self.redis_url)
        expiry = max(1, int(periodic.interval))
        try:
            while not self._stop.wait(periodic.interval):
                try:
                    if client.set(periodic.lock_key, "1", nx=True, ex=expiry):
                        dispatch(periodic.job, ())
                except redis.RedisError:
                    log.warning(
                        "%s timer: Redis unavailable; will try again", periodic.job.actor_name
                    )
        finally:
            client.close()


def every(
    broker: dramatiq.Broker, redis_url: str, interval: float, lock_key: str, job: Job
) -> None:
    """Enqueue `job` once per `interval` seconds across the workers sharing `redis_url`; an
    interval of 0 or less turns it off."""
    if interval <= 0:
        return
    timers = next((m for m in broker.middleware if isinstance(m, PeriodicJobs)), None)
    if timers is None:
        timers = PeriodicJobs(redis_url)
        broker.add_middleware(timers)
    timers.jobs.append(Periodic(job, interval, lock_key))
