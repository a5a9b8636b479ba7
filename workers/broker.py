"""Building the worker's broker from the app's settings and declaring every actor on it.

Actors are declared on an explicit broker (not the import-time global), so a test can build a
broker for its own Redis and database, run a real dramatiq Worker on it, and throw both away.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from flask import Flask

from outreach.jobs import make_broker
from outreach.settings import Settings


def build_worker_broker(app: Flask, *, set_global: bool = True) -> RedisBroker:
    settings: Settings = app.config["OUTREACH"]
    broker = make_broker(settings.effective_redis_url)
    from workers import (
        accounts,
        followups,
        imports,
        inbound,
        maintenance,
        reports,
        sending,
        supporters,
        webhooks,
    )

    sending.declare(broker, app)
    accounts.declare(broker, app)
    maintenance.declare(broker, app)
    supporters.declare(broker, app)
    inbound.declare(broker, app)
    webhooks.declare(broker, app)
    followups.declare(broker, app)
    imports.declare(broker, app)
    reports.declare(broker, app)
    if set_global:
        dramatiq.set_broker(broker)
    return broker
