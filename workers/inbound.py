"""The inbound processing actor: one stored message per job (outreach.tracking.process).

The job carries the row's id only; the message is in the database. A message that raises is kept
as `failed` with its error by `handle_inbound` itself, so the actor never fails and Dramatiq
never retries it: the next message is processed as usual, and staff retry a failed one with
`flask inbound reprocess ID` once the cause is fixed.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from flask import Flask

from outreach.db import Database
from outreach.jobs import PROCESS_INBOUND
from outreach.mail.identity import MessageIdentity
from outreach.settings import Settings
from outreach.tracking.process import handle_inbound


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, Any]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    # The token keys, read once: a misconfiguration stops the worker at start.
    identity = MessageIdentity.from_settings(settings)

    def process_inbound_actor(message_id: int) -> None:
        handle_inbound(db, message_id, identity, settings)

    actor = dramatiq.actor(
        broker=broker,
        actor_name=PROCESS_INBOUND.actor_name,
        queue_name=PROCESS_INBOUND.queue_name,
        max_retries=0,  # failures are recorded on the row; the reconciler re-enqueues lost jobs
        time_limit=2 * 60 * 1000,
    )(process_inbound_actor)
    # The IMAP poll (workers/imap.py) rides with the inbound actors: declared wherever they are.
    from workers import imap

    return {PROCESS_INBOUND.actor_name: actor, **imap.declare(broker, app)}
