"""The console's side of supporters: a campaign's public page settings, the review of signatures
held as part of a burst (the list itself is on the campaign page), and supporters' data requests
(export and erasure of everything held about one address, admins only)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from outreach.accounts.models import Role
from outreach.campaigns.models import Campaign
from outreach.extensions import get_db
from outreach.supporters import review as signatures
from outreach.supporters import rights
from outreach.supporters.review import review as review_service
from outreach.web.access import require_login_for, roles_required
from outreach.web.admin import EDITORS, _first_error
from outreach.web.forms import PublicPageForm, ReviewForm, SupporterDataForm

bp = Blueprint("signatures", __name__)
require_login_for(bp)


@bp.post("/campaigns/<int:campaign_id>/public")
@roles_required(*EDITORS)
def public_page(campaign_id: int) -> ResponseReturnValue:
    """Save the public page's settings (any status: signing may open or close at any time)."""
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    form = PublicPageForm()
    back = url_for("admin.campaign_detail", campaign_id=campaign.id) + "#supporters"
    if not form.validate_on_submit():
        flash(f"Public page not saved: {_first_error(form)}", "error")
        return redirect(back)
    try:
        signatures.set_public_settings(
            session,
            campaign,
            signatures.PublicSettings(
                slug=form.slug.data,
                signing_open=bool(form.signing_open.data),
                signature_goal=form.signature_goal.data,
                cosigner_display=form.cosigner_display.data or "none",
                privacy_notice=form.privacy_notice.data,
                supporter_letters=bool(form.supporter_letters.data),
                supporter_committees=form.supporter_committees.data or "",
                supporter_daily_cap=form.supporter_daily_cap.data,
                supporter_message=form.supporter_message.data,
                supporter_message_max=form.supporter_message_max.data or 1500,
            ),
        )
    except signatures.PublicSettingsError as exc:
        session.rollback()
        flash(f"Public page not saved: {exc}", "error")
        return redirect(back)
    session.commit()
    flash("Public page saved.", "success")
    return redirect(back)


@bp.post("/campaigns/<int:campaign_id>/signatures/<int:signature_id>/review")
@roles_required(*EDITORS)
def review(campaign_id: int, signature_id: int) -> ResponseReturnValue:
    """Approve (a confirmation mail goes out) or reject a signature held for review."""
    session = get_db().session
    back = url_for("admin.campaign_detail", campaign_id=campaign_id, signatures="held")
    form = ReviewForm()
    action = request.form.get("action")
    if not form.validate_on_submit() or action not in {"approve", "reject"}:
        abort(400)
    done = review_service(
        session,
        campaign_id,
        signature_id,
        approve=action == "approve",
        actor=f"user:{current_user.id} {current_user.email}",
    )
    session.commit()
    if done:
        flash(
            "Signature approved: a confirmation mail is on its way."
            if action == "approve"
            else "Signature rejected: it will never count.",
            "success",
        )
    else:
        flash("That signature is no longer waiting for review.", "info")
    return redirect(back + "#supporters")


@bp.route("/supporters/data", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def supporter_data() -> ResponseReturnValue:
    """A supporter's request: export (JSON or CSV) or erase everything held about an address.
    POST only, so that the address never appears in a URL or an access log."""
    form = SupporterDataForm()
    action = request.form.get("action", "")
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("admin/supporter_data.html", form=form)
    session = get_db().session
    email = (form.email.data or "").strip().lower()
    actor = f"user:{current_user.id} {current_user.email}"
    if action in {"json", "csv"}:
        data = rights.export_data(session, email)
        if action == "json":
            body, mimetype = rights.export_json(data), "application/json"
        else:
            body, mimetype = rights.export_csv(data), "text/csv"
        return Response(
            body,
            mimetype=mimetype,
            headers={"Content-Disposition": f"attachment; filename=supporter-data.{action}"},
        )
    if action != "erase":
        abort(400)
    if not form.confirm_erase.data:
        flash("Nothing was erased: tick the box to confirm that erasure cannot be undone.", "error")
        return render_template("admin/supporter_data.html", form=form)
    done = rights.erase(session, email, actor=actor)
    session.commit()
    if done.signatures or done.mail_deleted:
        flash(
            f"Erased: {done.signatures} signature(s) and {done.mail_deleted} message(s) received "
            f"from the supporter; {done.letters_cancelled} unsent letter(s) cancelled, "
            f"{done.letters_kept} letter(s) kept without the supporter.",
            "success",
        )
    else:
        flash("Nothing is held for that address.", "info")
    return redirect(url_for("signatures.supporter_data"))
