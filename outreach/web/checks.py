"""/campaigns/<id>/check: the check of every copy of a draft (a dry run of every copy, with what
is wrong), and the launch button that confirms exactly the warnings shown.

The page shows the stored check while nothing it read has changed; a letter of more than
`check_runs.INLINE_COPIES` copies is checked again on a worker, and the page shows its progress
(static/check.js polls `check_status` and reloads the page when it is done; without JavaScript,
reloading the page shows the same). outreach.campaigns.check_runs decides which.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from outreach.accounts.roles import Permission
from outreach.campaigns import check_runs
from outreach.campaigns.models import Campaign
from outreach.extensions import get_db, get_settings
from outreach.letters.lint import IDENTICAL_WARN_SHARE, MAX_MESSAGE_BYTES
from outreach.web.access import permission_required, require_login_for
from outreach.web.workspace import workspace

bp = Blueprint("checks", __name__)
require_login_for(bp)


@bp.get("/campaigns/<int:campaign_id>/check")
def campaign_check(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    shown = check_runs.for_page(session, campaign, default_from=get_settings().mail_from)
    # A GET that writes: a check run here is remembered (so that launch, the button below, need
    # not render every copy again), or a worker's run is queued. Staff see nothing else change.
    session.commit()
    return render_template(
        "admin/check.html",
        campaign=campaign,
        shown=shown,
        report=shown.report,
        error=shown.error,
        identical_threshold=IDENTICAL_WARN_SHARE,
        max_kb=MAX_MESSAGE_BYTES // 1024,
        ws=workspace(session, campaign, "check"),
    )


@bp.get("/campaigns/<int:campaign_id>/check/status.json")
def check_status(campaign_id: int) -> ResponseReturnValue:
    """The state of the campaign's check under way: what static/check.js polls."""
    row = get_db().session.get(check_runs.LetterCheck, campaign_id) or abort(404)
    return jsonify(state=row.state, done=row.done, total=row.total, percent=row.percent)


@bp.post("/campaigns/<int:campaign_id>/check")
@permission_required(Permission.EDIT)
def check_again(campaign_id: int) -> ResponseReturnValue:
    """Check every copy again (after a check that failed, or to be sure)."""
    session = get_db().session
    session.get(Campaign, campaign_id) or abort(404)
    check_runs.start_again(session, campaign_id)
    session.commit()
    return redirect(url_for("checks.campaign_check", campaign_id=campaign_id), code=303)
