"""Importing officials from a file in the console: upload, review the diff, correct the mapping,
apply. The work is done by outreach.directory_imports (the same parser and engine as the CLI)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select

from contacts.importers import FIELD_NAMES, SUPPORTED_FORMATS
from contacts.models import Contact, ContactChange, ImportMapping, ImportRun
from contacts.records import ImportFileError
from outreach import directory_imports as imports
from outreach.accounts.models import Role
from outreach.extensions import get_db, get_settings
from outreach.web.access import require_login_for, roles_required

bp = Blueprint("imports", __name__)
require_login_for(bp)
EDITORS = (Role.ADMIN, Role.CAMPAIGNER)
FORMAT_LABELS = {
    "ep_xml": "EP full-list XML",
    "ep_api": "EP Open Data API JSON (.tar.gz, .zip)",
    "csv": "CSV",
    "xlsx": "Excel workbook (.xlsx)",
}


def _instance() -> Path:
    return get_settings().instance


def _mappings() -> list[ImportMapping]:
    return list(get_db().session.scalars(select(ImportMapping).order_by(ImportMapping.name)))


def _mapping_from_form() -> dict[str, str | None] | None:
    """{header: field} from the review page's column selects (col-<n> header, map-<n> field);
    a column set to "(ignore)" maps to None, so detection does not bring it back."""
    headers = [(k[4:], v) for k, v in request.form.items() if k.startswith("col-")]
    if not headers:
        return None
    mapping: dict[str, str | None] = {}
    for index, header in headers:
        field = request.form.get(f"map-{index}", "")
        mapping[header] = field if field in FIELD_NAMES else None
    return mapping


def _review(
    token: str, *, format: str | None, mapping: dict[str, str | None] | None, status: int = 200
) -> ResponseReturnValue:
    session = get_db().session
    try:
        upload = imports.load_upload(_instance(), token)
        parsed, plan = imports.dry_run(session, upload, format=format, mapping=mapping)
    except (imports.UploadError, ImportFileError) as exc:
        flash(f"Nothing was imported: {exc}", "error")
        return redirect(url_for("imports.upload"))
    return render_template(
        "directory/import_review.html",
        token=token,
        upload=upload,
        parsed=parsed,
        plan=plan,
        format=format or parsed.source_kind,
        field_names=FIELD_NAMES,
        mappings=_mappings(),
    ), status


@bp.route("/contacts/import", methods=["GET", "POST"])
@roles_required(*EDITORS)
def upload() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template(
            "directory/import_upload.html",
            formats=FORMAT_LABELS,
            accept=",".join(ext for exts in SUPPORTED_FORMATS.values() for ext in exts),
            mappings=_mappings(),
        )
    file = request.files.get("file")
    if file is None or not file.filename:
        flash("Choose a file to import.", "error")
        return redirect(url_for("imports.upload"))
    format = request.form.get("format") or None
    mapping = None
    try:
        if request.form.get("mapping_name"):
            mapping = imports.saved_mapping(get_db().session, request.form["mapping_name"])
        stored = imports.store_upload(_instance(), file.filename, file.read())
    except imports.UploadError as exc:
        flash(f"Nothing was imported: {exc}", "error")
        return redirect(url_for("imports.upload"))
    return _review(stored.token, format=format, mapping=mapping)


@bp.post("/contacts/import/<token>")
@roles_required(*EDITORS)
def review(token: str) -> ResponseReturnValue:
    """Read the stored file again with the mapping from the page (and save it if asked)."""
    format = request.form.get("format") or None
    mapping = _mapping_from_form()
    save_as = (request.form.get("save_mapping_as") or "").strip()
    if save_as and mapping:
        imports.save_mapping(get_db().session, save_as, mapping)
        get_db().session.commit()
        flash(f"Mapping “{save_as}” saved.", "success")
    return _review(token, format=format, mapping=mapping)


@bp.post("/contacts/import/<token>/apply")
@roles_required(*EDITORS)
def apply(token: str) -> ResponseReturnValue:
    session = get_db().session
    format = request.form.get("format") or None
    mapping = _mapping_from_form()
    try:
        upload = imports.load_upload(_instance(), token)
        run, _plan = imports.apply_reviewed(
            session,
            upload,
            reviewed_digest=request.form.get("digest", ""),
            actor=f"user:{current_user.id} {current_user.email}",
            format=format,
            mapping=mapping,
        )
    except (imports.UploadError, ImportFileError) as exc:
        session.rollback()
        flash(f"Nothing was imported: {exc}", "error")
        return redirect(url_for("imports.upload"))
    if run is None:
        session.rollback()
        flash("The directory changed since you reviewed this import: review the new diff.", "error")
        return _review(token, format=format, mapping=mapping, status=409)
    session.commit()
    imports.discard_upload(_instance(), token)
    counts = run.counts
    flash(
        f"Imported {upload.filename}: {counts.get('created', 0)} new, {counts.get('updated', 0)} "
        f"changed, {counts.get('left_office', 0)} left office, {counts.get('rejected', 0)} rows rejected.",
        "success",
    )
    return redirect(url_for("imports.run_detail", run_id=run.id))


@bp.post("/contacts/import/<token>/discard")
@roles_required(*EDITORS)
def discard(token: str) -> ResponseReturnValue:
    imports.discard_upload(_instance(), token)
    flash("Import discarded; nothing was changed.", "info")
    return redirect(url_for("imports.upload"))


@bp.get("/imports")
def runs() -> ResponseReturnValue:
    runs = list(
        get_db().session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(200))
    )
    return render_template("directory/import_runs.html", runs=runs)


CHANGES_PAGE = 200  # a bundled load changes thousands of fields: a page of them at a time


@bp.get("/imports/<int:run_id>")
def run_detail(run_id: int) -> ResponseReturnValue:
    session = get_db().session
    run = session.get(ImportRun, run_id) or abort(404)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    changes = session.execute(
        select(ContactChange, Contact.display_name)
        .join(Contact, ContactChange.contact_id == Contact.id)
        .where(ContactChange.import_run_id == run.id)
        .order_by(ContactChange.contact_id, ContactChange.id)
        .limit(CHANGES_PAGE)
        .offset((page - 1) * CHANGES_PAGE)
    ).all()
    total = session.scalar(
        select(func.count(ContactChange.id)).where(ContactChange.import_run_id == run.id)
    )
    return render_template(
        "directory/import_run.html",
        run=run, changes=changes, total=total, page=page, page_size=CHANGES_PAGE,
    )  # fmt: skip
