"""Background work of the console's pages: a drive report's or the dashboard's figures computed
again (outreach.reports.snapshots), and the check of every copy of a letter
(outreach.campaigns.check_runs). Both take ids, and a duplicate message does nothing twice."""

from __future__ import annotations

from typing import Any

import dramatiq
from flask import Flask

from outreach.campaigns import check_runs
from outreach.db import Database
from outreach.reports import snapshots


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, Any]:
    db: Database = app.extensions["outreach.db"]
    settings = app.config["OUTREACH"]

    def refresh_report_snapshot(key: str) -> None:
        with db.transaction() as session:
            snapshots.refresh(session, key)

    def run_check(campaign_id: int) -> None:
        check_runs.run(db.transaction, campaign_id, default_from=settings.mail_from)

    refresh = dramatiq.actor(
        broker=broker,
        actor_name=snapshots.REFRESH_SNAPSHOT.actor_name,
        queue_name=snapshots.REFRESH_SNAPSHOT.queue_name,
        # The next view of a page whose figures are stale queues another: no retries needed.
        max_retries=0,
        time_limit=10 * 60 * 1000,
    )(refresh_report_snapshot)
    check = dramatiq.actor(
        broker=broker,
        actor_name=check_runs.RUN_CHECK.actor_name,
        queue_name=check_runs.RUN_CHECK.queue_name,
        # A failure is recorded on the run and shown on the check page; staff start it again.
        max_retries=0,
        time_limit=60 * 60 * 1000,  # 100,000 copies take about half a minute on this machine
    )(run_check)
    return {refresh.actor_name: refresh, check.actor_name: check}
