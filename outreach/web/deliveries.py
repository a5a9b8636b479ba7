"""A campaign's delivery table (filters, keyset pages, bulk actions) and one delivery's page.

The table (`deliveries.table`) filters by state, country, political group and committee; each
row links to the delivery's page with its event history (`admin.delivery_detail`, a route of the
admin blueprint added here, so the name every link uses stays). Bulk actions (admins and
campaigners) act on the rows ticked or on every delivery matching the filter:

* uncertain letters: *Mark sent* (the relay's log shows it went out) or *Send again* (it did
  not): `campaigns.reconcile.resolve_uncertain`, as on the campaign page;
* failed letters: *Retry* (`campaigns.control.retry_failed`), after fixing what made them fail.

Each service changes only the rows in the state it acts on (compare-and-set), so a selection
that mixes states is safe; the message says how many changed.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import defer

from outreach.accounts.models import Role
from outreach.campaigns import control
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.campaigns.reconcile import ResolveError, resolve_uncertain
from outreach.campaigns.states import DeliveryState
from outreach.extensions import get_db, get_settings
from outreach.reports import deliveries as table_queries
from outreach.reports.deliveries import DeliveryFilter
from outreach.tracking.models import InboundMessage
from outreach.web import admin
from outreach.web.access import require_login_for, roles_required

bp = Blueprint("deliveries", __name__)
require_login_for(bp)
EDITORS = (Role.ADMIN, Role.CAMPAIGNER)
# The bulk actions: (the state they act on, what the message says was done).
ACTIONS = {
    "mark_sent": ("uncertain", "marked sent"),
    "resend": ("uncertain", "queued to be sent again"),
    "retry": ("failed", "queued to be retried"),
}


def parse_filter(values: dict[str, str]) -> DeliveryFilter:
    states = {s.value for s in DeliveryState}
    state = values.get("state", "")
    return DeliveryFilter(
        state=state if state in states else "",
        country=(values.get("country") or "").strip().upper()[:2],
        group=(values.get("group") or "").strip()[:32],
        committee=(values.get("committee") or "").strip().upper()[:32],
    )


def _actor() -> str:
    return f"user:{current_user.id} {current_user.email}"


@bp.get("/campaigns/<int:campaign_id>/deliveries")
def table(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    f = parse_filter(request.args.to_dict())
    by_state = table_queries.counts_by_state(session, campaign.id, f)
    page = table_queries.page(
        session,
        campaign.id,
        f,
        after=request.args.get("after", type=int),
        before=request.args.get("before", type=int),
    )
    total = by_state.get(f.state, 0) if f.state else sum(by_state.values())
    return render_template(
        "deliveries/table.html",
        campaign=campaign,
        f=f,
        page=page,
        total=total,
        by_state=by_state,
        # What "all matching" would act on: the filter's letters in each action's state.
        matching={
            s: by_state.get(s, 0) if f.state in ("", s) else 0 for s in ("uncertain", "failed")
        },
        states=[s.value for s in DeliveryState],
        choices=table_queries.choices(session),
        editor=current_user.role in {r.value for r in EDITORS},
    )


@bp.post("/campaigns/<int:campaign_id>/deliveries/bulk")
@roles_required(*EDITORS)
def bulk(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    form = request.form
    f = parse_filter(form.to_dict())
    back = url_for("deliveries.table", campaign_id=campaign.id, **f.as_args())  # type: ignore[arg-type]
    nxt = form.get("next") or ""
    if nxt.startswith("/") and not nxt.startswith("//"):
        back = nxt
    action = form.get("action", "")
    if action not in ACTIONS:
        flash("Choose what to do: mark sent, send again, or retry.", "error")
        return redirect(back)
    source, done = ACTIONS[action]
    if form.get("scope") == "all":
        ids = table_queries.matching_ids(session, campaign.id, f, [source])
    else:
        named = [int(i) for i in form.getlist("delivery_id") if i.isdigit()]
        ids = table_queries.of_campaign(session, campaign.id, named)
    if not ids:
        flash(f"No {source} letter was chosen: tick some, or choose all matching.", "error")
        return redirect(back)
    settings = get_settings()
    try:
        if action == "retry":
            result = control.retry_failed(
                session, campaign.id, ids, actor=_actor(), batch_size=settings.send_batch_size
            )
            changed, skipped = result.queued, result.skipped
        else:
            changed = resolve_uncertain(
                session, ids, action=action, actor=_actor(), batch_size=settings.send_batch_size
            )
            skipped = len(ids) - changed
    except (control.ControlError, ResolveError) as exc:
        session.rollback()
        flash(f"Nothing done: {exc}.", "error")
        return redirect(back)
    session.commit()
    message = f"{changed} letter{'s' if changed != 1 else ''} {done}."
    if skipped:
        why = (
            "not failed, part of a joint message not retried whole, or to an official who can "
            "no longer be written to"
            if action == "retry"
            else "not uncertain"
        )
        message += f" {skipped} left as they were ({why})."
    flash(message, "success" if changed else "info")
    return redirect(back)


@admin.bp.get("/deliveries/<int:delivery_id>")
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
    inbound = list(
        session.scalars(
            select(InboundMessage)
            .options(defer(InboundMessage.raw))  # the page shows what was read from it
            .where(InboundMessage.delivery_id == delivery.id)
            .order_by(InboundMessage.received_at, InboundMessage.id)
        )
    )
    return render_template(
        "admin/delivery.html",
        delivery=delivery,
        events=events,
        inbound=inbound,
        editor=current_user.role in {r.value for r in EDITORS},
    )
