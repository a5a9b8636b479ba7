"""Four-eyes launches in the console: the approver's button and withdrawing a request (the
request itself is made by the launch button, see outreach.campaigns.approval.launch_gate), and
`launch_approval(campaign)` for the campaign page's include (templates/admin/_approval.html)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from outreach.accounts.models import User
from outreach.accounts.roles import Permission, may_approve
from outreach.campaigns import approval
from outreach.campaigns.models import Campaign
from outreach.extensions import get_db, get_settings
from outreach.web.access import permission_required, require_login_for

bp = Blueprint("approval", __name__)
require_login_for(bp)


class ApprovalForm(FlaskForm):
    pass


def _user() -> User:
    user: User = current_user._get_current_object()
    return user


@bp.app_template_global("launch_approval")
def launch_approval(campaign: Campaign) -> dict[str, object]:
    """What the campaign page shows of four-eyes: the newest request's state, and whether the
    signed-in user may approve it."""
    settings = get_settings()
    view = approval.approval_view(get_db().session, campaign, default_from=settings.mail_from)
    user = _user() if current_user.is_authenticated else None
    row = view.request
    return {
        "threshold": settings.four_eyes_threshold,
        "view": view,
        "form": ApprovalForm(),
        "can_approve": bool(
            user
            and row is not None
            and view.state == "pending"
            and may_approve(user)
            and row.requested_by_id != user.id
        ),
        "can_withdraw": bool(user and row is not None and may_approve(user)),
    }


@bp.post("/campaigns/<int:campaign_id>/approval/approve")
@permission_required(Permission.APPROVE)
def approve(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    if not ApprovalForm().validate_on_submit():
        abort(400)
    try:
        row = approval.approve(
            session,
            campaign,
            _user(),
            seen_fingerprint=request.form.get("fingerprint", ""),
            default_from=get_settings().mail_from,
        )
    except approval.ApprovalError as exc:
        session.rollback()
        flash(f"Not approved: {exc}.", "error")
    else:
        session.commit()
        flash(
            f"Approved: the launch of {row.recipients} letters can go ahead (by anyone with the "
            "launch button).",
            "success",
        )
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/approval/withdraw")
@permission_required(Permission.APPROVE)
def withdraw(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    if not ApprovalForm().validate_on_submit():
        abort(400)
    try:
        approval.withdraw(session, campaign, _user())
    except approval.ApprovalError as exc:
        session.rollback()
        flash(f"Nothing withdrawn: {exc}.", "error")
    else:
        session.commit()
        flash("The request for approval is withdrawn.", "success")
    return redirect(url_for("admin.campaign_detail", campaign_id=campaign_id))
