"""/campaigns/<id>/check: every copy of a draft rendered in a dry run, with what is wrong, and
the launch button that confirms exactly the warnings shown."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from outreach.campaigns import services
from outreach.campaigns.models import Campaign
from outreach.extensions import get_db, get_settings
from outreach.letters.lint import IDENTICAL_WARN_SHARE, MAX_MESSAGE_BYTES
from outreach.web.access import require_login_for
from outreach.web.workspace import workspace

bp = Blueprint("checks", __name__)
require_login_for(bp)


@bp.get("/campaigns/<int:campaign_id>/check")
def campaign_check(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    error = None
    report = None
    try:
        report = services.lint(session, campaign, default_from=get_settings().mail_from)
        # A GET that writes: the check is remembered so that launch (the button below) need not
        # render every copy again. It changes nothing staff see, and the next check replaces it.
        session.commit()
    except services.CampaignError as exc:
        session.rollback()
        error = str(exc)
    return render_template(
        "admin/check.html",
        campaign=campaign,
        report=report,
        error=error,
        identical_threshold=IDENTICAL_WARN_SHARE,
        max_kb=MAX_MESSAGE_BYTES // 1024,
        ws=workspace(session, campaign, "check"),
    )
