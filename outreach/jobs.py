"""Background jobs as data: names of actors and their queues, and dispatch after commit.

Services never import actors (that would make the web app depend on the worker package). They call
`defer(session, JOB, *ids)`; the job is enqueued only when that session's transaction commits, so a
worker can never look for rows that do not exist yet, and a rolled-back request enqueues nothing.
If Redis is down at that moment the rows are still in the database, which is the truth: the
reconciler finds queued deliveries that are in no queue and enqueues them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING_KEY = "outreach.pending_jobs"
DISPATCHER_KEY = "outreach.dispatcher"


@dataclass(frozen=True)
class Job:
    actor_name: str
    queue_name: str


SEND_BATCH = Job("send_batch", "sending")
RECONCILE = Job("reconcile", "maintenance")
# A supporter's confirmation or reminder: args (signature id, "confirm" | "reminder").
SIGNATURE_MAIL = Job("signature_mail", "supporters")
# One stored inbound message (outreach.tracking): its own queue, so a flood of bounces never
# waits behind a drive's sending jobs, nor holds them up.
PROCESS_INBOUND = Job("process_inbound", "inbound")
# One outgoing webhook delivery (outreach.api.webhooks): args (webhook delivery id,).
DELIVER_WEBHOOK = Job("deliver_webhook", "webhooks")
# An import job of the API (outreach.api.import_jobs): plan or apply it; args (import job id,).
IMPORT_JOB = Job("import_job", "imports")

Dispatcher = Callable[[Job, tuple[Any, ...]], None]


def make_broker(redis_url: str) -> RedisBroker:
    """The Redis broker shared by the web app (to enqueue) and the workers (to consume)."""
    return RedisBroker(url=redis_url)


def broker_dispatcher(broker: dramatiq.Broker) -> Dispatcher:
    def dispatch(job: Job, args: tuple[Any, ...]) -> None:
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=job.queue_name, actor_name=job.actor_name, args=args, kwargs={}, options={}
        )
        broker.enqueue(message)

    return dispatch


def defer(session: Session, job: Job, *args: Any) -> None:
    """Enqueue `job(*args)` once the session's current transaction has committed."""
    if not session.in_transaction():
        # Begin explicitly, so that a rollback() before any SQL still fires and forgets the job.
        session.begin()
    session.info.setdefault(_PENDING_KEY, []).append((job, args))


def pending_jobs(session: Session) -> list[tuple[Job, tuple[Any, ...]]]:
    return list(session.info.get(_PENDING_KEY, []))


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    jobs = session.info.pop(_PENDING_KEY, [])
    if not jobs:
        return
    dispatcher: Dispatcher | None = session.info.get(DISPATCHER_KEY)
    if dispatcher is None:
        log.error("no job dispatcher configured; %d job(s) left to the reconciler", len(jobs))
        return
    for job, args in jobs:
        try:
            dispatcher(job, args)
        except Exception:
            # The rows are committed; the reconciler will enqueue them again. Never fail the request.
            log.exception("could not enqueue %s; the reconciler will retry", job.actor_name)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: Any) -> None:
    # "soft": fires on every rollback() call, even when no database transaction had begun yet.
    if not previous_transaction.nested:
        session.info.pop(_PENDING_KEY, None)
