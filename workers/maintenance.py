"""The reconciler's actor, and the timer that runs it once per interval across all workers.

The same pass launches the drives scheduled for a moment that has come
(outreach.campaigns.schedule.launch_due), through the service behind the console's launch button.

Every worker process starts a timer thread (workers/timer.py); each tick, the one that wins a Redis lock (SET NX with
an expiry of one interval) enqueues a `reconcile` job, so however many workers run, the
reconciler runs about once per interval. The actor itself is idempotent (see
outreach.campaigns.reconcile).
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import redis
from flask import Flask

from outreach import audit
from outreach.api.import_jobs import recover_lost as recover_import_jobs
from outreach.api.webhooks import sweep as sweep_webhooks
from outreach.campaigns.reconcile import reconcile
from outreach.campaigns.schedule import launch_due
from outreach.db import Database
from outreach.followups.followup import launch_due_followups
from outreach.followups.mep_question import sweep_questions
from outreach.jobs import PROCESS_INBOUND, RECONCILE, SEND_BATCH, defer
from outreach.settings import Settings
from outreach.supporters.rights import purge_unconfirmed
from outreach.supporters.sweep import sweep_signatures
from outreach.tracking.intake import stale_inbound_ids
from workers.timer import every

log = logging.getLogger(__name__)
LOCK_KEY = "outreach:reconcile-lock"


def sweep_followups(db: Database, settings: Settings) -> None:
    """Scheduled follow-up letters whose day has come, and "did your MEP reply?" questions to
    supporters whose letters left OUTREACH_MEP_REPLY_QUESTION_DAYS ago (outreach.followups)."""
    with db.transaction() as session:
        launched = launch_due_followups(
            session,
            batch_size=settings.send_batch_size,
            four_eyes_threshold=settings.four_eyes_threshold,
        )
    if launched.launched:
        log.info("follow-ups launched: %s", launched.launched)
    for followup_id, why in launched.refused.items():
        log.warning("follow-up %s not launched: %s", followup_id, why)
    with db.transaction() as session:
        asked = sweep_questions(session, days=settings.mep_reply_question_days)
    if asked:
        log.info("MEP reply questions: %d supporter(s) to ask", len(asked))


def sending_backlog(broker: dramatiq.Broker) -> int | None:
    """How many sending jobs the broker holds (waiting, delayed, or taken and not yet done), or
    None when it cannot tell (not a Redis broker, or Redis does not answer). Dramatiq's Redis
    broker keeps every such message in the hash `<namespace>:<queue>.msgs` until it is acked."""
    client = getattr(broker, "client", None)
    namespace = getattr(broker, "namespace", None)
    if client is None or namespace is None:
        return None
    queue = SEND_BATCH.queue_name
    try:
        return int(client.hlen(f"{namespace}:{queue}.msgs")) + int(
            client.hlen(f"{namespace}:{queue}.DQ.msgs")
        )
    except redis.RedisError:
        return None


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, Any]:
    settings: Settings = app.config["OUTREACH"]
    db: Database = app.extensions["outreach.db"]
    every(broker, settings.effective_redis_url, settings.reconcile_interval, LOCK_KEY, RECONCILE)

    def reconcile_actor() -> None:
        # Letters queued for minutes behind a backlog are waiting, not lost: enqueuing them again
        # would double the backlog (measured: one pass re-queued 73,550 letters of a big drive).
        backlog = sending_backlog(broker)
        with db.transaction() as session:
            report = reconcile(
                session, batch_size=settings.send_batch_size, requeue_stale=not backlog
            )
            # Inbound messages whose processing job was lost (Redis restarted after the commit).
            stale = stale_inbound_ids(session)
            for message_id in stale:
                defer(session, PROCESS_INBOUND, message_id)
            # Outgoing webhooks emitted where no job could be deferred, or whose job was lost.
            hooks = sweep_webhooks(session)
            # The API's import jobs whose message or worker was lost.
            imports = recover_import_jobs(session)
        if imports:
            log.info("reconciler: import job(s) %s queued again", imports)
        if stale:
            log.info("reconciler: %d inbound message(s) enqueued again", len(stale))
        if hooks:
            log.info("reconciler: %d webhook deliveries enqueued", len(hooks))
        if report.uncertain or report.retried or report.failed or report.requeued:
            log.info("reconciler: %s", report)
        # Drives scheduled for now or earlier: each launched in its own transaction.
        scheduled = launch_due(
            db,
            batch_size=settings.send_batch_size,
            default_from=settings.mail_from,
            four_eyes_threshold=settings.four_eyes_threshold,
        )
        if scheduled:
            log.info(
                "scheduled drives: %d launched, %d refused (%s)",
                len(scheduled.launched),
                len(scheduled.refused),
                "; ".join(f"campaign {i}: {why}" for i, why in scheduled.refused.items()),
            )
        # Supporters' reminders and lost confirmation mails ride on the same timer.
        with db.transaction() as session:
            swept = sweep_signatures(session)
        if swept.reminders or swept.requeued:
            log.info("signatures: %s", swept)
        # The retention period of unconfirmed signatures (personal data kept no longer than needed).
        with db.transaction() as session:
            purged = purge_unconfirmed(session, days=settings.signature_retention_days)
        if purged:
            log.info(
                "signatures: %d unconfirmed purged after %d days",
                purged,
                settings.signature_retention_days,
            )
        # The audit log's retention period, in batches of rows (outreach.audit.prune).
        pruned = audit.prune(db.transaction, days=settings.audit_retention_days)
        if pruned:
            log.info("audit log: %d event(s) older than %d days deleted", pruned,
                     settings.audit_retention_days)  # fmt: skip

        sweep_followups(db, settings)

    actor = dramatiq.actor(
        broker=broker,
        actor_name=RECONCILE.actor_name,
        queue_name=RECONCILE.queue_name,
        max_retries=0,  # the next pass does the work again
        time_limit=5 * 60 * 1000,
    )(reconcile_actor)
    return {RECONCILE.actor_name: actor}
