"""A drive's report: its pictures and who was written to and who replied, for staff on screen
and for the coalition's partners on paper (the page prints cleanly: static/app.css's @media print).

The view asks outreach.reports one question per picture and draws each with outreach.charts; the
lists are bounded (outreach.reports.drive_report) and the CSV exports carry every row.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from contacts.base import utcnow
from contacts.countries import country_name
from outreach.campaigns.models import Campaign
from outreach.charts import Bar, Chart, Series, bar_chart, eu_map, time_chart
from outreach.charts.choropleth import Rate, classes
from outreach.charts.palette import BLUE, SKY_BLUE, STATE_COLOURS
from outreach.charts.svg import number, percent
from outreach.extensions import get_db
from outreach.reports import drive_report, figures, signatures, snapshots, timeline
from outreach.reports.replies import RateRow
from outreach.web.access import require_login_for

bp = Blueprint("reports", __name__)
require_login_for(bp)

RATE_NOTE = (
    "A letter counts once it reached the official (sent or replied; bounced and failed ones "
    "did not); the rate is the share of those answered by a person (auto-replies do not count)."
)


def _rate_bars(
    chart_id: str, title: str, rows: list[RateRow], label: dict[str, str], heading: str
) -> Chart:
    top = classes(max((r.rate for r in rows), default=0))[-1]
    bars = [
        Bar(
            label=label.get(r.key, r.key) or "none given",
            value=r.rate,
            figure=f"{r.replied} of {number(r.reached)} · {percent(r.rate)}",
            cells=[number(r.reached), number(r.replied), percent(r.rate)],
        )
        for r in rows
    ]
    return bar_chart(
        chart_id,
        title,
        f"Horizontal bars, highest rate first. {RATE_NOTE}",
        bars,
        columns=(heading, "Letters that reached", "Replied", "Reply rate"),
        maximum=top,
        empty="No letter has reached anyone yet.",
    )


@bp.get("/campaigns/<int:campaign_id>/report")
def campaign_report(campaign_id: int) -> ResponseReturnValue:
    session = get_db().session
    campaign = session.get(Campaign, campaign_id) or abort(404)
    # The figures of the pictures are stored (outreach.reports.snapshots): computed here only
    # when none are stored or they are too old; the page says when they were computed.
    served = snapshots.serve(session, snapshots.drive_key(campaign.id))
    session.commit()
    drive = figures.decode_drive(served.figures)
    counts = drive.counts
    total = sum(counts.values())

    line = drive.timeline
    state_chart = time_chart(
        "states",
        "Where the letters stood, over time",
        "Stacked areas, one per state, for every period since the launch: how many of the "
        "drive's letters were answered, sent, bounced, failed, uncertain, cancelled or still "
        "waiting to go out (queued, deferred, held or being sent); the top edge is every "
        "letter made so far.",
        line.times,
        [
            Series(s, line.series[s], STATE_COLOURS.get(s, "#666666"))
            for s in timeline.LAYERS
            if any(line.series[s])
        ],
        stacked=True,
    )
    answered = drive.rates
    by_group, by_country = answered.by_group, answered.by_country
    group_chart = _rate_bars(
        "by-group", "Reply rate by political group", by_group, {}, "Political group"
    )
    countries = {r.key: country_name(r.key) for r in by_country}
    country_chart = _rate_bars(
        "by-country", "Reply rate by country", by_country, countries, "Country"
    )
    map_chart = eu_map(
        "map",
        "Reply rate by member state",
        f"A map of the 27 EU member states, each coloured by its reply rate, darker for more. "
        f"{RATE_NOTE}",
        {r.key: Rate(r.replied, r.reached) for r in by_country},
        part_name="replied",
        whole_name="letters reached",
    )
    signed = signatures.per_day(session, campaign.id)
    signature_chart = None
    if signed.times:
        signature_chart = time_chart(
            "signatures",
            "Supporters' signatures per day",
            "Lines: signatures made each day (withdrawn and rejected ones left out) and "
            "signatures confirmed each day.",
            signed.times,
            [
                Series("signed", signed.signed, SKY_BLUE),
                Series("confirmed", signed.confirmed, BLUE),
            ],
            time_heading="Day (UTC)",
        )
    listed = total <= drive_report.LIST_LIMIT
    return render_template(
        "reports/campaign.html",
        campaign=campaign,
        counts=counts,
        total=total,
        reached=answered.total,
        charts=[c for c in (state_chart, map_chart, country_chart, group_chart) if c],
        signature_chart=signature_chart,
        recipients=drive_report.recipients(session, campaign.id) if listed else None,
        list_limit=drive_report.LIST_LIMIT,
        reply_list=drive_report.replies(session, campaign.id),
        reply_limit=drive_report.REPLY_LIMIT,
        generated_at=utcnow(),
        served=served,
        editor=current_user.role in ("admin", "campaigner"),
    )
