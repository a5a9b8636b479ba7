"""Import jobs of the API: a whole file of officials (EP XML, EP API archive, CSV, XLSX) uploaded,
planned, reviewed row by row, then applied, by the same parser and engine as the console
(contacts.importers.parse_file, contacts.importing.plan_import / apply_plan).

A job is a row (`ImportJob`) holding the file itself, so that a worker on another host reads it
from the database. Small files are planned in the request; larger ones (over INLINE_MAX_BYTES) by
the worker (`import_job` actor), which records its progress on the row as it reads and compares,
so a script polls the job. The plan is stored as rows (`ImportJobRow`: new, changed, left office,
rejected with the reason) and its digest; applying plans again from the file in the transaction
that writes, and writes only if the digest is still the one reviewed, as the console does. A
directory that changed in between gives a new plan to review instead (state back to `planned`,
with a note). With `auto_apply` the job is applied as soon as it is planned, unless rows were
rejected (rejected rows are for a person to read: the job stays `planned` with a note).

Every step moves the state with a compare-and-set (UPDATE ... WHERE state = ...), so two requests
or a request and a worker never apply a job twice.

A job whose queue message was lost (Redis restarted between the commit and the worker) or whose
worker died mid-way is found by the reconciler (`recover_lost`): queued or applying with no change
for LOST_AFTER, or planning or applying with no change for STUCK_AFTER (longer than the actor's
time limit, so a live worker is never second-guessed). Its message is sent again; a duplicate does
nothing, since each step starts with a compare-and-set or, for applying, a row lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from contacts.importers import SUPPORTED_FORMATS, parse_file
from contacts.importing import ImportPlan, PlannedContact, apply_plan, as_text, plan_import
from contacts.records import ImportFileError, ParsedFile
from outreach.api.models import ImportJob, ImportJobRow, ImportJobState
from outreach.directory_imports import MAX_UPLOAD_BYTES
from outreach.jobs import IMPORT_JOB, defer

State = ImportJobState
# Up to this size a file is planned (and applied) in the request: a CRM's few hundred rows answer
# at once. Larger files go to the worker, which records its progress.
INLINE_MAX_BYTES = 256 * 1024
ROW_CHUNK = 1000
PROGRESS_EVERY_SECONDS = 0.5
CHANGED_NOTE = (
    "The directory changed since this plan was made: nothing was written. Review the new plan "
    "and apply its digest."
)

# A queued job untouched this long lost its message: the worker takes a job within seconds.
# Planning writes its progress every PROGRESS_EVERY_SECONDS, applying writes nothing until it
# commits: for those, silence longer than the actor's time limit means the worker is gone.
LOST_AFTER = timedelta(minutes=10)
STUCK_AFTER = timedelta(minutes=35)
WORKER_TIME_LIMIT = timedelta(minutes=30)
STUCK_NOTE = "The worker planning this file stopped; it was queued again."

Transaction = Callable[[], AbstractContextManager[Session]]


class ImportJobError(ValueError):
    """The upload is refused as a whole (empty, too large, unknown format)."""


class FileTooLarge(ImportJobError):
    pass


def create_job(
    session: Session,
    *,
    filename: str,
    data: bytes,
    format: str | None,
    mapping: dict[str, str | None] | None,
    auto_apply: bool,
    user_id: int | None,
    actor: str,
) -> ImportJob:
    """A queued job for this file (the caller commits, then plans it in the request or lets the
    worker do it: `needs_worker`)."""
    if not data:
        raise ImportJobError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise FileTooLarge(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if format is not None and format not in SUPPORTED_FORMATS:
        raise ImportJobError(f"unknown format {format!r}; formats: {', '.join(SUPPORTED_FORMATS)}")
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload"
    job = ImportJob(
        state=State.QUEUED.value,
        filename=name,
        format=format,
        mapping=mapping,
        size=len(data),
        data=data,
        auto_apply=auto_apply,
        created_by_id=user_id,
        actor=actor[:100],
        progress_done=0,
    )
    session.add(job)
    session.flush()
    return job


def needs_worker(job: ImportJob) -> bool:
    return job.size > INLINE_MAX_BYTES


def queue(session: Session, job: ImportJob) -> None:
    """Hand the job to the worker, after the caller's commit."""
    defer(session, IMPORT_JOB, job.id)


def recover_lost(session: Session, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Jobs whose message or worker was lost, made ready again and queued after the caller's
    commit (the reconciler's pass); their ids."""
    now = now or utcnow()
    working = (State.PLANNING.value, State.APPLYING.value)
    rows = session.execute(
        select(ImportJob.id, ImportJob.state)
        .where(
            or_(
                (ImportJob.state == State.QUEUED.value) & (ImportJob.updated_at < now - LOST_AFTER),
                ImportJob.state.in_(working) & (ImportJob.updated_at < now - STUCK_AFTER),
            )
        )
        .order_by(ImportJob.id)
        .limit(limit)
    ).all()
    recovered = []
    for job_id, state in rows:
        if state == State.PLANNING.value:
            # Only if no progress was written since it was read (compare-and-set on the time).
            moved = session.execute(
                update(ImportJob)
                .where(
                    ImportJob.id == job_id,
                    ImportJob.state == State.PLANNING.value,
                    ImportJob.updated_at < now - STUCK_AFTER,
                )
                .values(state=State.QUEUED.value, note=STUCK_NOTE, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if not moved:
                continue
        else:
            # Touched, so the next pass waits LOST_AFTER again before sending another message.
            _move(session, job_id, (State(state),))
        defer(session, IMPORT_JOB, job_id)
        recovered.append(job_id)
    return recovered


def _move(session: Session, job_id: int, from_states: Iterable[State], **values: Any) -> bool:
    """Compare-and-set of the job's state; True if this caller moved it."""
    result = session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.state.in_([s.value for s in from_states]))
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def request_apply(session: Session, job_id: int, digest: str) -> bool:
    """Mark a planned job for applying if `digest` is the plan's; False otherwise (the caller says
    why: another state, or another digest). Rejected rows are skipped, as in the console."""
    return (
        session.execute(
            update(ImportJob)
            .where(
                ImportJob.id == job_id,
                ImportJob.state == State.PLANNED.value,
                ImportJob.digest == digest,
            )
            .values(state=State.APPLYING.value, updated_at=utcnow(), note=None)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        == 1
    )


def request_plan(
    session: Session,
    job_id: int,
    *,
    format: str | None,
    mapping: dict[str, str | None] | None,
) -> bool:
    """Plan a planned job again with another format or column mapping (the console's review)."""
    if format is not None and format not in SUPPORTED_FORMATS:
        raise ImportJobError(f"unknown format {format!r}; formats: {', '.join(SUPPORTED_FORMATS)}")
    return _move(
        session,
        job_id,
        (State.PLANNED, State.FAILED),
        state=State.QUEUED.value,
        format=format,
        mapping=mapping,
        error=None,
        note=None,
        progress_done=0,
        progress_total=None,
    )


def discard(session: Session, job_id: int) -> bool:
    """Drop a job that is not being worked on; its file goes, its plan rows too."""
    moved = _move(
        session,
        job_id,
        (State.PLANNED, State.FAILED, State.QUEUED),
        state=State.DISCARDED.value,
        data=None,
    )
    if moved:
        session.execute(delete(ImportJobRow).where(ImportJobRow.job_id == job_id))
    return moved


@dataclass
class _Progress:
    """Writes how far the reading and comparing got, at most every PROGRESS_EVERY_SECONDS, in
    its own short transaction (the planning session only reads, so it never waits on it)."""

    transaction: Transaction
    job_id: int
    offset: int = 0  # parsing counts as the first half when its total is known
    last: float = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS and done != total:
            return
        self.last = now
        with self.transaction() as session:
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == self.job_id)
                .values(progress_done=done, progress_total=total, updated_at=utcnow())
            )


def run(transaction: Transaction, job_id: int) -> None:
    """Do what the job waits for: plan a queued job (and apply it if asked), apply an applying
    one. Used by the request for small files and by the worker's actor; a job in any other state
    is left alone (the message was a duplicate)."""
    with transaction() as session:
        job = session.get(ImportJob, job_id)
        state = job.state if job is not None else None
    if state == State.QUEUED.value:
        _plan(transaction, job_id)
    elif state == State.APPLYING.value:
        _apply(transaction, job_id)


def _parse(job: ImportJob, progress: Callable[[int, int | None], None] | None) -> ParsedFile:
    assert job.data is not None
    return parse_file(
        job.data,
        filename=job.filename,
        format=job.format,
        mapping=job.mapping,
        progress=progress,
    )


def _plan(transaction: Transaction, job_id: int) -> None:
    with transaction() as session:
        if not _move(session, job_id, (State.QUEUED,), state=State.PLANNING.value):
            return
        job = session.get(ImportJob, job_id)
        auto_apply = bool(job and job.auto_apply)
    progress = _Progress(transaction, job_id)
    with transaction() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        try:
            parsed = _parse(job, None)
        except ImportFileError as exc:
            session.rollback()
            with transaction() as writer:
                _move(writer, job_id, (State.PLANNING,), state=State.FAILED.value, error=str(exc))
            return
        plan = plan_import(session, parsed, progress=progress)
        # The planning transaction only read: end it before writing the result (SQLite would
        # refuse a write from a read snapshot that the progress writes have overtaken).
        session.rollback()
    # Applied at once only when nothing was rejected: rejected rows are for a person to read.
    apply_now = auto_apply and not plan.errors
    note = None
    if auto_apply and plan.errors:
        note = (
            f"Not applied: {len(plan.errors)} row(s) rejected. Read them, then apply this plan's "
            "digest to import the other rows."
        )
    with transaction() as session:
        _store_plan(session, job_id, parsed, plan)
        _move(
            session,
            job_id,
            (State.PLANNING,),
            state=(State.APPLYING if apply_now else State.PLANNED).value,
            note=note,
        )
    if apply_now:
        _apply(transaction, job_id)


def _apply(transaction: Transaction, job_id: int) -> None:
    """Plan again and write, in one transaction, if the plan is still the reviewed one."""
    with transaction() as session:
        # First, a write on the job's row: it holds the row (PostgreSQL) or the database (SQLite)
        # until this transaction ends, so a second message for the same job (sent again by the
        # reconciler) waits here and then finds the job applied.
        if not _move(session, job_id, (State.APPLYING,)):
            return
        job = session.get(ImportJob, job_id)
        if job is None:
            return
        try:
            parsed = _parse(job, None)
        except ImportFileError as exc:  # the same bytes read before: only a parser change
            job.state, job.error = State.FAILED.value, str(exc)
            return
        plan = plan_import(session, parsed)
        if plan.digest != job.digest:
            _store_plan(session, job_id, parsed, plan)
            job.state, job.note, job.updated_at = State.PLANNED.value, CHANGED_NOTE, utcnow()
            return
        run = apply_plan(session, plan, actor=job.actor or f"api import job {job.id}")
        job.state = State.APPLIED.value
        job.import_run_id = run.id
        job.counts = plan.counts
        job.data = None  # the file is in the history as the run's changes now
        job.progress_done = job.progress_total or 0
        job.updated_at = utcnow()


def _store_plan(session: Session, job_id: int, parsed: ParsedFile, plan: ImportPlan) -> None:
    session.execute(delete(ImportJobRow).where(ImportJobRow.job_id == job_id))
    rows = list(plan_rows(job_id, plan))
    for start in range(0, len(rows), ROW_CHUNK):
        session.execute(insert(ImportJobRow), rows[start : start + ROW_CHUNK])
    session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(
            source_kind=plan.source_kind,
            digest=plan.digest,
            counts=plan.counts,
            detected_mapping=dict(parsed.mapping) or None,
            updated_at=utcnow(),
        )
    )


def _changes(planned: PlannedContact, *, new: bool) -> list[dict[str, str | None]]:
    if new:
        out = [
            {"field": name, "old": None, "new": as_text(value)}
            for name, value in sorted(planned.values.items())
            if value not in (None, "", [], ())
        ]
        if planned.add_seats:
            seats = sorted(f"{s.acronym}:{s.role}" for s in planned.add_seats)
            out.append({"field": "seats", "old": None, "new": "; ".join(seats)})
        return out
    return [{"field": c.field, "old": c.old_text, "new": c.new_text} for c in planned.changes]


def plan_rows(job_id: int, plan: ImportPlan) -> Iterator[dict[str, Any]]:
    """The plan as ImportJobRow values, in the file's order within each kind."""
    for kind, planned_list in (
        ("new", plan.new),
        ("changed", plan.changed),
        ("left_office", plan.left_office),
    ):
        for planned in planned_list:
            yield {
                "job_id": job_id,
                "kind": kind,
                "line": None if planned.line is None else str(planned.line)[:40],
                "contact_id": planned.contact_id,
                "display_name": planned.display_name[:400],
                "changes": _changes(planned, new=kind == "new"),
                "reason": None,
            }
    for error in plan.errors:
        yield {
            "job_id": job_id,
            "kind": "error",
            "line": None if error.line is None else str(error.line)[:40],
            "contact_id": None,
            "display_name": None,
            "changes": None,
            "reason": f"{error.reason} ({error.value!r})" if error.value else error.reason,
        }
