"""The directory in the console: contacts (list, page with history, edit), saved audiences with a
live count, and the data-quality page."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import case, false, func, or_, select
from sqlalchemy.orm import selectinload

from contacts.audience import (
    Audience,
    AudienceError,
    SavedAudienceError,
    save_audience,
    sendable_condition,
)
from contacts.base import utcnow
from contacts.editing import ContactEdit, ContactEditError, apply_edit
from contacts.models import Contact, ContactChange, EmailStatus, ImportRun, SavedAudience
from outreach.accounts.models import Role
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from outreach.web.access import require_login_for, roles_required
from outreach.web.forms import ContactForm, SavedAudienceForm

bp = Blueprint("directory", __name__)
require_login_for(bp)

PAGE_SIZE = 50
EDITORS = (Role.ADMIN, Role.CAMPAIGNER)
STALE_AFTER = timedelta(days=365)


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


def _actor() -> str:
    return f"user:{current_user.id} {current_user.email}"


@bp.get("/contacts")
def contacts() -> ResponseReturnValue:
    session = get_db().session
    q = (request.args.get("q") or "").strip()
    filter_text = (request.args.get("filter") or "").strip()
    error = None
    try:
        condition = Audience(filter=filter_text).matching_condition(session)
    except AudienceError as exc:
        error = str(exc)
        condition = false()
    stmt = select(Contact).where(condition)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Contact.display_name).like(like), func.lower(Contact.email).like(like))
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = _page()
    rows = list(
        session.scalars(
            stmt.order_by(Contact.family_name, Contact.given_name, Contact.id)
            .options(selectinload(Contact.memberships))
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return render_template(
        "directory/contacts.html",
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        q=q,
        filter_text=filter_text,
        error=error,
    )


@bp.get("/contacts/<int:contact_id>")
def contact_detail(contact_id: int) -> ResponseReturnValue:
    session = get_db().session
    contact = session.get(Contact, contact_id) or abort(404)
    history = session.execute(
        select(ContactChange, ImportRun)
        .outerjoin(ImportRun, ContactChange.import_run_id == ImportRun.id)
        .where(ContactChange.contact_id == contact.id)
        .order_by(ContactChange.id.desc())
        .limit(200)
    ).all()
    deliveries = session.execute(
        select(Delivery, Campaign.name)
        .join(Campaign, Delivery.campaign_id == Campaign.id)
        .where(Delivery.contact_id == contact.id)
        .order_by(Delivery.id.desc())
        .limit(100)
    ).all()
    return render_template(
        "directory/contact.html", contact=contact, history=history, deliveries=deliveries
    )


def _edit_from_form(form: ContactForm) -> ContactEdit:
    return ContactEdit(**{name: getattr(form, name).data for name in ContactForm.EDIT_FIELDS})


def _contact_form_page(contact: Contact | None) -> ResponseReturnValue:
    session = get_db().session
    form = ContactForm()
    if request.method == "GET":
        edit = ContactEdit.of(contact) if contact else ContactEdit()
        for name in ContactForm.EDIT_FIELDS:
            getattr(form, name).data = getattr(edit, name)
    elif form.validate_on_submit():
        try:
            saved = apply_edit(session, contact, _edit_from_form(form), actor=_actor())
        except ContactEditError as exc:
            session.rollback()
            for name, message in exc.errors.items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [*field.errors, message]
                else:
                    form.form_errors.append(f"{name}: {message}")
        else:
            session.commit()
            flash(f"{saved.display_name} saved.", "success")
            return redirect(url_for("directory.contact_detail", contact_id=saved.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("directory/contact_form.html", form=form, contact=contact), status


@bp.route("/contacts/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def contact_new() -> ResponseReturnValue:
    return _contact_form_page(None)


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def contact_edit(contact_id: int) -> ResponseReturnValue:
    contact = get_db().session.get(Contact, contact_id) or abort(404)
    return _contact_form_page(contact)


# --- audiences -----------------------------------------------------------------------------------
@bp.get("/audience/preview")
def audience_preview() -> ResponseReturnValue:
    """Live count for the audience builder: matches, exclusions by reason, the first names."""
    session = get_db().session
    audience = Audience(filter=(request.args.get("filter") or "").strip())
    try:
        count = audience.count(session)
        exclusions = audience.exclusions(session)
        sample = [c.display_name for c in session.scalars(audience.query(session).limit(8))]
    except AudienceError as exc:
        return jsonify(error=str(exc)), 422
    return jsonify(
        count=count,
        excluded=exclusions.total,
        excluded_reasons=exclusions.describe(),
        sample=sample,
        describe=audience.describe(),
    )


@bp.get("/audiences")
def audiences() -> ResponseReturnValue:
    session = get_db().session
    saved = list(session.scalars(select(SavedAudience).order_by(SavedAudience.name)))
    counts: dict[int, int | str] = {}
    for item in saved:
        try:
            counts[item.id] = Audience(filter=item.filter, contact_ids=item.contact_ids).count(
                session
            )
        except AudienceError as exc:
            counts[item.id] = f"error: {exc}"
    return render_template("directory/audiences.html", saved=saved, counts=counts)


def _audience_form_page(saved: SavedAudience | None) -> ResponseReturnValue:
    session = get_db().session
    form = SavedAudienceForm(obj=saved)
    if request.method == "GET" and saved is not None:
        form.contact_ids.data = ", ".join(str(i) for i in saved.contact_ids)
    if form.validate_on_submit():
        name = (form.name.data or "").strip()
        try:
            ids = sorted({int(p) for p in (form.contact_ids.data or "").replace(",", " ").split()})
        except ValueError:
            form.contact_ids.errors = ["write contact ids as numbers separated by commas"]
            ids = []
        if not form.contact_ids.errors:
            try:
                save_audience(
                    session, saved, name=name, filter_text=form.filter.data or "", contact_ids=ids
                )
            except SavedAudienceError as exc:
                session.rollback()
                getattr(form, exc.field).errors = [str(exc)]
        if not form.filter.errors and not form.contact_ids.errors and not form.name.errors:
            session.commit()
            flash(f"Audience “{name}” saved.", "success")
            return redirect(url_for("directory.audiences"))
    status = 400 if form.errors else 200
    return render_template("directory/audience_form.html", form=form, saved=saved), status


@bp.route("/audiences/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def audience_new() -> ResponseReturnValue:
    return _audience_form_page(None)


@bp.route("/audiences/<int:audience_id>", methods=["GET", "POST"])
@roles_required(*EDITORS)
def audience_edit(audience_id: int) -> ResponseReturnValue:
    saved = get_db().session.get(SavedAudience, audience_id) or abort(404)
    return _audience_form_page(saved)


# --- data quality --------------------------------------------------------------------------------
@bp.get("/directory/quality")
def quality() -> ResponseReturnValue:
    """What needs a person: missing or bouncing addresses, records to review, inactive officials
    that saved audiences would reach, records no import has refreshed for a year."""
    session = get_db().session
    active = Contact.active.is_(True)

    stale_before = utcnow() - STALE_AFTER
    conditions = {
        "missing": active & or_(Contact.email.is_(None), Contact.email == ""),
        "bouncing": active & (Contact.email_status != EmailStatus.OK.value),
        "review": active & Contact.needs_review.is_(True),
        "stale": active
        & or_(Contact.last_import_at.is_(None), Contact.last_import_at < stale_before)
        & (Contact.source != "entered by staff"),
        "sendable": sendable_condition(),
    }
    # One pass over the directory counts every list (a count per list was a pass each).
    counts = session.execute(
        select(
            func.count(Contact.id).label("total"),
            *(func.count(case((c, 1))).label(name) for name, c in conditions.items()),
        )
    ).one()

    def sample(name: str, limit: int = 25) -> tuple[int, list[Contact]]:
        rows = list(
            session.scalars(
                select(Contact).where(conditions[name]).order_by(Contact.display_name).limit(limit)
            )
        )
        return int(getattr(counts, name) or 0), rows

    missing, bouncing, review, stale = (
        sample(n) for n in ("missing", "bouncing", "review", "stale")
    )
    inactive_in_audiences = []
    for saved in session.scalars(select(SavedAudience).order_by(SavedAudience.name)):
        try:
            condition = Audience(
                filter=saved.filter, contact_ids=saved.contact_ids
            ).matching_condition(session)
        except AudienceError:
            continue
        names = list(
            session.scalars(
                select(Contact.display_name)
                .where(condition, Contact.active.is_(False))
                .order_by(Contact.display_name)
            )
        )
        if names:
            inactive_in_audiences.append((saved, names))
    sendable, total = int(counts.sendable or 0), int(counts.total or 0)
    return render_template(
        "directory/quality.html",
        missing=missing,
        bouncing=bouncing,
        review=review,
        stale=stale,
        inactive_in_audiences=inactive_in_audiences,
        sendable=sendable,
        total=total,
    )
