"""Sending actors: each job carries a batch of delivery ids, never a rendered letter.

The actor is idempotent: ids that are no longer `queued` (another worker took them, or they were
sent already) are simply not claimed. Each worker thread keeps one SMTP connection open across jobs.
"""

from __future__ import annotations

import os
import threading

import dramatiq
from flask import Flask
from redis import Redis

from outreach.campaigns.pacing import DomainRates, Pacer
from outreach.campaigns.sending import send_batch
from outreach.db import Database
from outreach.jobs import SEND_BATCH
from outreach.mail.identity import MessageIdentity
from outreach.mail.transport import SmtpConfig, SmtpTransport
from outreach.settings import Settings


class _ConnectionPool(dramatiq.Middleware):
    """The SMTP connections of this worker's threads, closed (QUIT) when the worker stops, and
    the pacer's Redis client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: list[SmtpTransport] = []
        self.redis: Redis | None = None  # the pacer's client, closed with the worker too

    def register(self, transport: SmtpTransport) -> SmtpTransport:
        with self._lock:
            self._transports.append(transport)
        return transport

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()
        if self.redis is not None:
            self.redis.close()


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, dramatiq.Actor[..., None]]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    smtp = SmtpConfig.from_url(settings.effective_smtp_url, timeout=settings.smtp_timeout)
    local = threading.local()
    pool = _ConnectionPool()
    broker.add_middleware(pool)
    # Signed bounce and reply addresses, and the DKIM key, read once: a misconfiguration stops
    # the worker at start.
    identity = MessageIdentity.from_settings(settings)
    # The pace every worker shares (pacing.py): per-domain limits and the relay's places.
    pool.redis = Redis.from_url(settings.effective_redis_url)
    pacer = Pacer(
        pool.redis,
        DomainRates.parse(settings.domain_rates),
        settings.relay_concurrency,
    )

    def transport() -> SmtpTransport:
        if not hasattr(local, "transport"):
            local.transport = pool.register(SmtpTransport(smtp))
        t: SmtpTransport = local.transport
        return t

    def send_batch_actor(delivery_ids: list[int]) -> None:
        send_batch(
            db,
            delivery_ids,
            transport(),
            actor=f"worker:{os.getpid()}:{threading.get_ident()}",
            default_from=settings.mail_from,
            return_path=settings.return_path,
            pacer=pacer,
            # A relay place is given back at the latest when a stalled transaction would time
            # out at every step (connect, MAIL, RCPT, DATA, the final dot).
            relay_hold=settings.smtp_timeout * 6,
            identity=identity,
        )

    actor = dramatiq.actor(
        broker=broker,
        actor_name=SEND_BATCH.actor_name,
        queue_name=SEND_BATCH.queue_name,
        # A claim makes a retry harmless: ids already handled are not claimed again.
        max_retries=3,
        time_limit=10 * 60 * 1000,
    )(send_batch_actor)
    return {SEND_BATCH.actor_name: actor}
