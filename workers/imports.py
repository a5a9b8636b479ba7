"""The API's import jobs in the worker: plan a large uploaded file (recording progress on the job
as it goes), or apply a reviewed plan. The work is outreach.api.import_jobs.run, the same function
the request calls for small files; the job's state makes a duplicate message do nothing."""

from __future__ import annotations

from typing import Any

import dramatiq
from flask import Flask

from outreach.api.import_jobs import WORKER_TIME_LIMIT, run
from outreach.db import Database
from outreach.jobs import IMPORT_JOB


def declare(broker: dramatiq.Broker, app: Flask) -> dict[str, Any]:
    db: Database = app.extensions["outreach.db"]

    def import_job(job_id: int) -> None:
        run(db.transaction, job_id)

    actor = dramatiq.actor(
        broker=broker,
        actor_name=IMPORT_JOB.actor_name,
        queue_name=IMPORT_JOB.queue_name,
        # A failure is recorded on the job (a file that cannot be read is `failed`); an
        # exception here is a bug or a lost database, which a retry would not mend.
        max_retries=0,
        # A 20 MB file of 100,000 officials, on a slow machine. The reconciler counts a job
        # silent for longer than this as lost (outreach.api.import_jobs.recover_lost).
        time_limit=int(WORKER_TIME_LIMIT.total_seconds() * 1000),
    )(import_job)
    return {IMPORT_JOB.actor_name: actor}
