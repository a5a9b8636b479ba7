"""/webhooks (admins): outgoing webhook subscriptions (URL, events, the signing secret) and the
recent deliveries with their status, attempts and last answer; sending a failed delivery again,
and rotating a subscription's secret with a grace period in which the old one signs too (the
same services as /api/v1/webhooks, outreach.api.webhooks)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DecimalField, SelectMultipleField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange

from outreach.accounts.models import Role
from outreach.api.models import WebhookDelivery, WebhookSubscription
from outreach.api.webhooks import (
    EVENTS,
    MAX_GRACE,
    ResendError,
    SubscriptionError,
    recent,
    resend,
    rotate_secret,
    subscribe,
)
from outreach.extensions import get_db
from outreach.web.access import require_login_for, roles_required

bp = Blueprint("webhooks", __name__)
require_login_for(bp)


class SubscriptionForm(FlaskForm):
    url = StringField("URL", validators=[DataRequired(), Length(max=2000)])
    description = StringField("Description", validators=[Length(max=200)])
    events = SelectMultipleField(
        "Events", choices=[SelectChoice(e, e) for e in EVENTS], validators=[DataRequired()]
    )


class ToggleForm(FlaskForm):
    pass


class RotateForm(FlaskForm):
    grace_hours = DecimalField(
        "Old secret still signs for (hours)",
        default=24,
        validators=[NumberRange(0, MAX_GRACE.total_seconds() / 3600)],
    )


@bp.route("/webhooks", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def webhooks() -> ResponseReturnValue:
    session = get_db().session
    form = SubscriptionForm()
    if form.validate_on_submit():
        try:
            row = subscribe(
                session,
                url=form.url.data or "",
                events=list(form.events.data or []),
                description=form.description.data or "",
                created_by=current_user.email,
            )
        except SubscriptionError as exc:
            session.rollback()
            form.url.errors = [str(exc)]
        else:
            session.commit()
            flash(f"Subscribed {row.url}; its signing secret is shown below.", "success")
            return redirect(url_for("webhooks.webhooks"))
    subscriptions = list(
        session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    )
    return render_template(
        "admin/webhooks.html",
        form=form,
        toggle_form=ToggleForm(),
        rotate_form=RotateForm(),
        subscriptions=subscriptions,
        deliveries=recent(session),
        urls={s.id: s.url for s in subscriptions},
    ), 400 if form.errors else 200


@bp.post("/webhooks/<int:subscription_id>/toggle")
@roles_required(Role.ADMIN)
def toggle(subscription_id: int) -> ResponseReturnValue:
    if not ToggleForm().validate_on_submit():
        abort(400)
    session = get_db().session
    row = session.get(WebhookSubscription, subscription_id) or abort(404)
    row.active = not row.active
    session.commit()
    flash(f"{row.url} is {'on' if row.active else 'off'}.", "success")
    return redirect(url_for("webhooks.webhooks"))


@bp.post("/webhooks/<int:subscription_id>/rotate")
@roles_required(Role.ADMIN)
def rotate(subscription_id: int) -> ResponseReturnValue:
    form = RotateForm()
    if not form.validate_on_submit():
        flash(f"Secret not rotated: {form.grace_hours.errors[0]}", "error")
        return redirect(url_for("webhooks.webhooks"))
    session = get_db().session
    row = session.get(WebhookSubscription, subscription_id) or abort(404)
    grace = timedelta(hours=float(form.grace_hours.data or 0))
    rotate_secret(row, grace=grace)
    session.commit()
    if grace:
        flash(
            f"New secret for {row.url}; the old one also signs until "
            f"{row.previous_secret_until:%Y-%m-%d %H:%M} UTC.",
            "success",
        )
    else:
        flash(f"New secret for {row.url}; the old one no longer signs.", "success")
    return redirect(url_for("webhooks.webhooks"))


@bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
@roles_required(Role.ADMIN)
def resend_delivery(delivery_id: int) -> ResponseReturnValue:
    if not ToggleForm().validate_on_submit():
        abort(400)
    session = get_db().session
    delivery = session.get(WebhookDelivery, delivery_id) or abort(404)
    try:
        resend(session, delivery)
    except ResendError as exc:
        session.rollback()
        flash(f"Not sent again: {exc}.", "error")
    else:
        session.commit()
        flash(f"Delivery {delivery.id} ({delivery.event}) is being sent again.", "success")
    return redirect(url_for("webhooks.webhooks"))
