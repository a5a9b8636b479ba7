"""/api/v1/imports: import a whole file of officials as a job (outreach.api.import_jobs).

Upload (multipart, field `file`; options in the query) → the job, planned at once for a small
file (201) or by the worker for a large one (202: poll it, `progress` moves) → read its planned
rows (new, changed, left office, rejected with the reason) → apply with the digest you reviewed,
or plan it again with another format or column mapping, or discard it. With `apply=true` the
upload is applied as soon as it is planned, unless rows were rejected.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from contacts.importers import FIELD_NAMES, SUPPORTED_FORMATS
from contacts.models import ImportMapping
from outreach.api import import_jobs
from outreach.api.auth import actor, current_user, protect
from outreach.api.models import ImportJob, ImportJobRow, ImportJobState
from outreach.api.pagination import get_or_404, page
from outreach.api.problems import CONFLICT, Problem, invalid
from outreach.api.schemas import PageArgs, Text, UtcDateTime, page_schema
from outreach.extensions import get_db

blp = Blueprint(
    "api_imports",
    __name__,
    description="Import jobs: a whole file of officials, planned, reviewed row by row, applied.",
)
protect(blp)
FORMATS = list(SUPPORTED_FORMATS)
ROW_KINDS = ["new", "changed", "left_office", "error"]


class Mapping(fields.Dict):
    """{column header: field name or null}, as the console's review page sets it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=Text(validate=validate.Length(1, 200)),
            values=fields.String(allow_none=True, validate=validate.OneOf(FIELD_NAMES)),
            validate=validate.Length(max=200),
            **kwargs,
        )


class MappingJson(fields.String):
    """A mapping sent in the query string, as JSON."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = json.loads(text)
        except ValueError as exc:
            raise ValidationError('Not JSON: send {"column header": "field" or null}.') from exc
        return Mapping().deserialize(decoded)


class ImportUploadArgs(Schema):
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(FORMATS),
        metadata={"description": "Force a format; by default it is told from the name and bytes."},
    )
    mapping = MappingJson(
        load_default=None,
        validate=validate.Length(max=20000),
        metadata={
            "description": "CSV/XLSX: JSON {column header: field or null}, completing the "
            "detection (fields: " + ", ".join(FIELD_NAMES) + ")."
        },
    )
    mapping_name = Text(
        load_default=None,
        validate=validate.Length(1, 100),
        metadata={"description": "Use a mapping saved in the console."},
    )
    apply = fields.Boolean(
        load_default=False,
        metadata={"description": "Apply as soon as planned (not if any row is rejected)."},
    )


class ImportUploadFile(Schema):
    file = Upload(required=True, metadata={"description": "EP XML, EP API .zip/.tar.gz, CSV, XLSX"})


class ImportProgress(Schema):
    done = fields.Integer(required=True)
    total = fields.Integer(required=True, allow_none=True)
    percent = fields.Integer(required=True, allow_none=True)


class ImportJobOut(Schema):
    id = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"enum": [s.value for s in ImportJobState]})
    filename = fields.String(required=True)
    size = fields.Integer(required=True)
    format = fields.String(allow_none=True)
    source_kind = fields.String(allow_none=True)
    auto_apply = fields.Boolean(required=True)
    progress = fields.Method("_progress", required=True, metadata={"type": "object"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)
    digest = fields.String(
        allow_none=True,
        metadata={"description": "Of the plan shown by the rows: send it to apply that plan."},
    )
    mapping = fields.Dict(allow_none=True)
    detected_mapping = fields.Dict(allow_none=True)
    note = fields.String(allow_none=True)
    error = fields.String(
        allow_none=True, metadata={"description": "Why the file could not be read (failed)."}
    )
    import_run_id = fields.Integer(allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)

    def _progress(self, job: ImportJob) -> dict[str, Any]:
        total = job.progress_total
        return {
            "done": job.progress_done,
            "total": total,
            "percent": min(100, job.progress_done * 100 // total) if total else None,
        }


class ImportRowArgs(PageArgs):
    kind = fields.String(load_default=None, validate=validate.OneOf(ROW_KINDS))


class ImportChange(Schema):
    field = fields.String(required=True)
    old = fields.String(allow_none=True)
    new = fields.String(allow_none=True)


class ImportRowOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"enum": ROW_KINDS})
    line = fields.String(allow_none=True, metadata={"description": "Of the record in the file."})
    contact_id = fields.Integer(allow_none=True)
    display_name = fields.String(allow_none=True)
    changes = fields.List(fields.Nested(ImportChange), allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "Why a row was rejected."})


class ImportApplyIn(Schema):
    digest = Text(
        required=True,
        validate=validate.Length(1, 16),
        metadata={"description": "The job's `digest`: the plan you reviewed."},
    )


class ImportPlanIn(Schema):
    format = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(FORMATS))
    mapping = Mapping(load_default=None, allow_none=True)


def _job(job_id: int) -> ImportJob:
    return get_or_404(ImportJob, job_id, "import job")


def _process(job: ImportJob) -> tuple[ImportJob, int]:
    """Plan (and apply) now in the request for a small file, else hand the job to the worker."""
    db = get_db()
    session = db.session
    if import_jobs.needs_worker(job):
        import_jobs.queue(session, job)
        session.commit()
        return job, 202
    session.commit()
    import_jobs.run(db.transaction, job.id)
    session.expire_all()
    return _job(job.id), 200


def _headers(job: ImportJob) -> dict[str, str]:
    return {"Location": url_for("api_imports.ImportJobItem", job_id=job.id)}


@blp.route("/imports")
class Imports(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(ImportJobOut, "ImportJobPage"))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List import jobs, newest first."""
        return page(get_db().session, select(ImportJob), ImportJob.id, args, descending=True)

    @blp.arguments(ImportUploadArgs, location="query")
    @blp.arguments(ImportUploadFile, location="files")
    @blp.response(201, ImportJobOut, description="Planned in the request (a small file).")
    @blp.alt_response(202, schema=ImportJobOut, description="Queued for the worker: poll it.")
    def post(self, args: dict[str, Any], files: dict[str, Any]) -> Any:
        """Upload a file of officials (multipart/form-data, field `file`); the job is planned in
        the request for a small file, by the worker for a large one (202: poll the job until
        `planned`, `applied` or `failed`)."""
        session = get_db().session
        mapping = args["mapping"]
        if args["mapping_name"]:
            saved = session.scalar(
                select(ImportMapping).where(ImportMapping.name == args["mapping_name"])
            )
            if saved is None:
                raise invalid(
                    "mapping_name", f"There is no saved mapping {args['mapping_name']!r}.", "query"
                )
            mapping = {**dict(saved.mapping), **(mapping or {})}
        upload = files["file"]
        try:
            job = import_jobs.create_job(
                session,
                filename=upload.filename or "upload",
                data=upload.read(import_jobs.MAX_UPLOAD_BYTES + 1),
                format=args["format"],
                mapping=mapping,
                auto_apply=args["apply"],
                user_id=current_user().id,
                actor=actor(),
            )
        except import_jobs.FileTooLarge as exc:
            session.rollback()
            raise Problem(413, f"Nothing was imported: {exc}.") from exc
        except import_jobs.ImportJobError as exc:
            session.rollback()
            raise invalid("file", f"Nothing was imported: {exc}.", "files") from exc
        job, status = _process(job)
        return job, 202 if status == 202 else 201, _headers(job)


@blp.route("/imports/<int(min=1, max=2147483647):job_id>")
class ImportJobItem(MethodView):
    @blp.response(200, ImportJobOut)
    def get(self, job_id: int) -> ImportJob:
        """One import job: its state, progress, counts and the digest of its plan."""
        return _job(job_id)

    @blp.response(204)
    def delete(self, job_id: int) -> Response:
        """Discard a job that is not being planned or applied: nothing is written."""
        session = get_db().session
        job = _job(job_id)
        if job.state == ImportJobState.DISCARDED.value:
            return Response(status=204)
        if not import_jobs.discard(session, job_id):
            session.rollback()
            raise Problem(
                409, f"This job is {job.state}: it can no longer be discarded.", type_=CONFLICT
            )
        session.commit()
        return Response(status=204)


@blp.route("/imports/<int(min=1, max=2147483647):job_id>/rows")
class ImportRows(MethodView):
    @blp.arguments(ImportRowArgs, location="query")
    @blp.response(200, page_schema(ImportRowOut, "ImportRowPage"))
    def get(self, args: dict[str, Any], job_id: int) -> dict[str, Any]:
        """The plan row by row: contacts created, changed (field, old, new), leaving office, and
        rejected rows with the reason; `kind` chooses one."""
        _job(job_id)
        stmt = select(ImportJobRow).where(ImportJobRow.job_id == job_id)
        if args["kind"]:
            stmt = stmt.where(ImportJobRow.kind == args["kind"])
        return page(get_db().session, stmt, ImportJobRow.id, args)


@blp.route("/imports/<int(min=1, max=2147483647):job_id>/apply")
class ApplyJob(MethodView):
    @blp.arguments(ImportApplyIn)
    @blp.response(200, ImportJobOut, description="Applied, or planned again (see `note`).")
    @blp.alt_response(202, schema=ImportJobOut, description="Queued for the worker: poll it.")
    def post(self, body: dict[str, Any], job_id: int) -> Any:
        """Apply the plan whose digest you send. It is planned again from the file as it is
        written: if the directory changed since, nothing is written and the job is `planned`
        again with the new plan and digest (and a `note`)."""
        session = get_db().session
        job = _job(job_id)
        if not import_jobs.request_apply(session, job_id, body["digest"]):
            session.rollback()
            if job.state != ImportJobState.PLANNED.value:
                raise Problem(409, f"This job is {job.state}, not planned.", type_=CONFLICT)
            raise Problem(
                409,
                "This is not the digest of the job's plan: read the job again.",
                type_=CONFLICT,
                extra={"digest": job.digest},
            )
        session.expire_all()
        job, status = _process(_job(job_id))
        return job, status, _headers(job)


@blp.route("/imports/<int(min=1, max=2147483647):job_id>/plan")
class PlanJob(MethodView):
    @blp.arguments(ImportPlanIn)
    @blp.response(200, ImportJobOut)
    @blp.alt_response(202, schema=ImportJobOut, description="Queued for the worker: poll it.")
    def post(self, body: dict[str, Any], job_id: int) -> Any:
        """Plan a planned (or failed) job again with another format or column mapping."""
        session = get_db().session
        job = _job(job_id)
        if not import_jobs.request_plan(
            session, job_id, format=body.get("format"), mapping=body.get("mapping")
        ):
            session.rollback()
            raise Problem(
                409,
                f"This job is {job.state}: only a planned or failed one is planned again.",
                type_=CONFLICT,
            )
        session.expire_all()
        job, status = _process(_job(job_id))
        return job, status, _headers(job)
