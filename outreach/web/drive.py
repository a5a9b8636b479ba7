"""A launched drive from the console: pause, resume, cancel, and its live progress.

The progress endpoint answers JSON for the campaign page, which polls it every few seconds while
the drive is sending (static/progress.js); without JavaScript the page still shows the counts
when it is reloaded.
"""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from outreach.accounts.models import Role
from outreach.campaigns import control
from outreach.campaigns.models import Campaign
from outreach.extensions import get_db, get_settings
from outreach.web.access import require_login_for, roles_required

bp = Blueprint("drive", __name__)
require_login_for(bp)
EDITORS = (Role.ADMIN, Role.CAMPAIGNER)


def _actor() -> str:
    return f"user:{current_user.id} {current_user.email}"


def _act(campaign_id: int, action: str) -> ResponseReturnValue:
    session = get_db().session
    try:
        if action == "pause":
            n = control.pause(session, campaign_id, actor=_actor())
            message = f"Paused: {n} letter{'s' if n != 1 else ''} held. Letters already on their way are still recorded."
        elif action == "resume":
            n = control.resume(
                session, campaign_id, actor=_actor(), batch_size=get_settings().send_batch_size
            )
            message = f"Resumed: {n} letter{'s' if n != 1 else ''} queued for sending."
        else:
            n = control.cancel(session, campaign_id, actor=_actor())
            message = f"Cancelled: {n} letter{'s' if n != 1 else ''} will not be sent."
    except control.ControlError as exc:
        session.rollback()
        flash(f"Not done: {exc}.", "error")
    else:
        session.commit()
        flash(message, "success")
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/pause")
@roles_required(*EDITORS)
def pause(campaign_id: int) -> ResponseReturnValue:
    return _act(campaign_id, "pause")


@bp.post("/campaigns/<int:campaign_id>/resume")
@roles_required(*EDITORS)
def resume(campaign_id: int) -> ResponseReturnValue:
    return _act(campaign_id, "resume")


@bp.post("/campaigns/<int:campaign_id>/cancel")
@roles_required(*EDITORS)
def cancel(campaign_id: int) -> ResponseReturnValue:
    return _act(campaign_id, "cancel")


@bp.get("/campaigns/<int:campaign_id>/progress")
def progress(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return jsonify(error="there is no such campaign"), 404
    p = control.progress(session, campaign_id)
    return jsonify(
        status=campaign.status,
        counts=p.counts,
        total=p.total,
        done=p.done,
        percent=p.percent,
        per_minute=round(p.per_minute, 1),
        remaining=p.remaining,
        finish_at=p.finish_at.isoformat() if p.finish_at else None,
    )
