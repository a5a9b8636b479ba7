"""The outgoing webhooks' actor: one attempt of one delivery, then, if it failed, the same job
again after the backoff (a delayed Dramatiq message), until it is delivered or given up.

The row says where a delivery stands (attempts, next attempt, last status), so a lost delayed
message is found again by the reconciler's pass (outreach.api.webhooks.sweep).
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from flask import Flask

from outreach.api.webhooks import prepare, record, send
from outreach.db import Database
from outreach.jobs import DELIVER_WEBHOOK
from outreach.settings import Settings

log = logging.getLogger(__name__)


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, Any]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]

    def deliver_webhook(delivery_id: int) -> None:
        with db.transaction() as session:
            outgoing = prepare(session, delivery_id)
        if outgoing is None:
            return
        status, text = send(outgoing)  # outside any transaction: it may take seconds
        with db.transaction() as session:
            attempt = record(
                session,
                delivery_id,
                status,
                text,
                base_backoff=settings.hook_backoff,
                max_attempts=settings.hook_attempts,
            )
        if attempt.retry_in is not None:
            log.info(
                "webhook delivery %s: %s %s; retried in %s",
                delivery_id,
                status,
                text[:80],
                attempt.retry_in,
            )
            actor.send_with_options(
                args=(delivery_id,), delay=int(attempt.retry_in.total_seconds() * 1000)
            )

    actor = dramatiq.actor(
        broker=broker,
        actor_name=DELIVER_WEBHOOK.actor_name,
        queue_name=DELIVER_WEBHOOK.queue_name,
        max_retries=0,  # retries are ours, recorded on the row
        time_limit=60 * 1000,
    )(deliver_webhook)
    return {DELIVER_WEBHOOK.actor_name: actor}
