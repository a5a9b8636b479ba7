"""The admin console: dashboard, directory, campaigns and their deliveries."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from contacts.audience import Audience, AudienceError
from contacts.models import Contact
from outreach.accounts.models import Role
from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState
from outreach.extensions import get_db, get_settings
from outreach.web.access import require_login_for, roles_required
from outreach.web.forms import CampaignForm

bp = Blueprint("admin", __name__)
require_login_for(bp)

PAGE_SIZE = 50
EDITORS = (Role.ADMIN, Role.CAMPAIGNER)


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    session = get_db().session
    campaigns = list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(50)))
    counts = services.state_counts(session, [c.id for c in campaigns])
    contact_total = session.scalar(select(func.count()).select_from(Contact)) or 0
    return render_template(
        "admin/dashboard.html", campaigns=campaigns, counts=counts, contact_total=contact_total
    )


# --- campaigns -----------------------------------------------------------------------------------
@bp.route("/campaigns/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def campaign_new() -> ResponseReturnValue:
    form = CampaignForm()
    if form.validate_on_submit():
        session = get_db().session
        try:
            campaign = services.create_campaign(
                session,
                name=form.name.data or "",
                subject=form.subject.data or "",
                body=form.body.data or "",
                audience=form.audience_dict(),
                created_by_id=current_user.id,
            )
        except services.CampaignError as exc:
            form.form_errors.append(str(exc))
        else:
            session.commit()
            flash(f"Campaign “{campaign.name}” saved as a draft.", "success")
            return redirect(url_for("admin.campaign_detail", campaign_id=campaign.id))
    return render_template("admin/campaign_form.html", form=form, campaign=None), (
        400 if form.errors or form.form_errors else 200
    )


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def campaign_edit(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    form = CampaignForm()
    if request.method == "GET":
        form.name.data = campaign.name
        form.subject.data = campaign.subject_template
        form.body.data = campaign.body_template
        form.fill_audience(campaign.audience)
    elif form.validate_on_submit():
        try:
            services.update_campaign(
                session,
                campaign,
                name=form.name.data or "",
                subject=form.subject.data or "",
                body=form.body.data or "",
                audience=form.audience_dict(),
            )
        except services.CampaignError as exc:
            session.rollback()
            form.form_errors.append(str(exc))
        else:
            session.commit()
            flash("Campaign saved.", "success")
            return redirect(url_for("admin.campaign_detail", campaign_id=campaign.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("admin/campaign_form.html", form=form, campaign=campaign), status


@bp.get("/campaigns/<int:campaign_id>")
def campaign_detail(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    audience = Audience.from_dict(campaign.audience)
    try:
        audience_count = audience.count(session)
        exclusions = audience.exclusions(session)
        sample = session.scalars(audience.query(session).limit(1)).first()
        audience_error = None
    except AudienceError as exc:
        audience_count, exclusions, sample, audience_error = 0, None, None, str(exc)
    state = request.args.get("state") or ""
    stmt = select(Delivery).where(Delivery.campaign_id == campaign.id)
    if state:
        stmt = stmt.where(Delivery.state == state)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = _page()
    deliveries = list(
        session.scalars(
            stmt.options(selectinload(Delivery.contact))
            .order_by(Delivery.id)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    counts = services.state_counts(session, [campaign.id])[campaign.id]
    preview_error = audience_error
    preview = None
    if sample is not None:
        try:
            preview = services.preview(
                session, campaign, sample, default_from=get_settings().mail_from
            )
        except services.CampaignError as exc:
            preview_error = str(exc)
    return render_template(
        "admin/campaign.html",
        campaign=campaign,
        audience=audience,
        audience_count=audience_count,
        exclusions=exclusions,
        counts=counts,
        deliveries=deliveries,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        state=state,
        states=[s.value for s in DeliveryState],
        preview=preview,
        preview_contact=sample,
        preview_error=preview_error,
    )


@bp.get("/campaigns/<int:campaign_id>/preview/<int:contact_id>")
def campaign_preview(campaign_id: int, contact_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    contact = session.get(Contact, contact_id) or abort(404)
    language = request.args.get("lang") or None
    try:
        copy = services.preview(
            session, campaign, contact, default_from=get_settings().mail_from, language=language
        )
    except services.CampaignError as exc:
        return render_template(
            "admin/preview.html", campaign=campaign, contact=contact, error=str(exc)
        ), 422
    return render_template("admin/preview.html", campaign=campaign, contact=contact, copy=copy)


@bp.post("/campaigns/<int:campaign_id>/launch")
@roles_required(*EDITORS)
def campaign_launch(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    try:
        result = services.launch(
            session,
            campaign_id,
            actor=f"user:{current_user.id} {current_user.email}",
            batch_size=get_settings().send_batch_size,
        )
    except services.CampaignError as exc:
        session.rollback()
        flash(f"Not launched: {exc}", "error")
    else:
        session.commit()
        flash(f"Launched: {result.deliveries} letters queued for sending.", "success")
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))


@bp.get("/deliveries/<int:delivery_id>")
def delivery_detail(delivery_id: int) -> ResponseReturnValue:
    session = get_db().session
    delivery = session.get(Delivery, delivery_id) or abort(404)
    events = list(
        session.scalars(
            select(DeliveryEvent)
            .where(DeliveryEvent.delivery_id == delivery.id)
            .order_by(DeliveryEvent.id)
        )
    )
    return render_template("admin/delivery.html", delivery=delivery, events=events)
