"""The dashboard: drives running now with their live progress, scheduled drives, recent
activity in pictures, and every campaign.

Its views are routes of the `admin` blueprint (endpoint `admin.dashboard`, the page every
sign-in lands on and every "← Campaigns" link names), added here before the blueprint is
registered (outreach.web.register_blueprints imports this module first).

`admin.dashboard_drives` answers the drives' progress as JSON; static/dashboard.js polls it every
few seconds while a drive is sending and updates the bars in place. Without JavaScript the page
shows the same figures when it is reloaded.
"""

from __future__ import annotations

from flask import jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns import services
from outreach.campaigns.models import Campaign
from outreach.charts import Series, time_chart
from outreach.charts.palette import BLUE, SKY_BLUE, STATE_COLOURS
from outreach.extensions import get_db
from outreach.reports import drives, figures, signatures, snapshots, timeline
from outreach.web.admin import bp

RECENT_CAMPAIGNS = 50
ACTIVITY_DAYS = figures.ACTIVITY_DAYS
FLOW_NAMES = {"sent": "sent", "replied": "answered", "bounced": "bounced", "failed": "failed",
              "uncertain": "uncertain"}  # fmt: skip


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    session = get_db().session
    campaigns = list(
        session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(RECENT_CAMPAIGNS))
    )
    counts = services.state_counts(session, [c.id for c in campaigns])
    contact_total = session.scalar(select(func.count()).select_from(Contact)) or 0
    # The picture of the last 30 days over every drive is stored (outreach.reports.snapshots):
    # computed here only when none is stored or it is too old; the page says when.
    served = snapshots.serve(session, snapshots.DASHBOARD)
    session.commit()
    activity = figures.decode_dashboard(served.figures).activity
    activity_chart = None
    if any(any(v) for v in activity.series.values()):
        activity_chart = time_chart(
            "activity",
            f"Letters per day, every drive, last {ACTIVITY_DAYS} days",
            "Stacked areas: each day's letters sent, answered, bounced, failed and made "
            "uncertain, over every campaign.",
            activity.times,
            [Series(FLOW_NAMES[s], activity.series[s], STATE_COLOURS[s]) for s in timeline.FLOWS],
            stacked=True,
            time_heading="Day (UTC)",
        )
    signed = signatures.per_day(session, days=ACTIVITY_DAYS)
    signature_chart = None
    if any(signed.signed) or any(signed.confirmed):
        signature_chart = time_chart(
            "signatures",
            f"Supporters' signatures per day, last {ACTIVITY_DAYS} days",
            "Lines: signatures made each day (withdrawn and rejected ones left out) and "
            "signatures confirmed each day, every campaign.",
            signed.times,
            [
                Series("signed", signed.signed, SKY_BLUE),
                Series("confirmed", signed.confirmed, BLUE),
            ],
            time_heading="Day (UTC)",
        )
    return render_template(
        "admin/dashboard.html",
        active=drives.active_drives(session),
        scheduled=drives.scheduled_drives(session),
        campaigns=campaigns,
        counts=counts,
        contact_total=contact_total,
        activity_chart=activity_chart,
        signature_chart=signature_chart,
        served=served,
        now=utcnow(),
    )


@bp.get("/dashboard/drives.json")
def dashboard_drives() -> ResponseReturnValue:
    """The progress of every drive sending or paused (what the dashboard's bars show)."""
    return jsonify(drives=[d.as_json() for d in drives.active_drives(get_db().session)])
