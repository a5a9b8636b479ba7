"""What every campaign page shows around its own content: the steps of the drive with their
states (templates/admin/_steps.html), and for drafts the launch plan and estimated duration.

One function, `workspace`, called by each campaign view (the campaign page, the letter editors,
the preview, the check, the launch page), so the step bar reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.campaigns import services
from outreach.campaigns.estimate import Estimate, estimate
from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.campaigns.pacing import DomainRates, RateError
from outreach.campaigns.workspace import (
    CheckState,
    LaunchPlan,
    SendingIdentity,
    Step,
    check_state,
    launch_plan,
    next_step,
    sending_identity,
    steps,
)
from outreach.extensions import get_settings


@dataclass(frozen=True)
class Workspace:
    steps: list[Step]
    current: str  # the step this page is about
    next: str | None  # the first step that needs something
    plan: LaunchPlan | None  # drafts only
    check: CheckState
    identity: SendingIdentity
    estimate: Estimate | None  # drafts only: if launched now (or at the scheduled time)
    rates_error: str | None


def _aware(at: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes (stored in UTC); PostgreSQL aware ones."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def workspace(session: Session, campaign: Campaign, current: str) -> Workspace:
    settings = get_settings()
    draft = campaign.status == CampaignStatus.DRAFT
    plan = launch_plan(session, campaign) if draft else None
    check = check_state(session, campaign, default_from=settings.mail_from)
    identity = sending_identity(settings, campaign)
    counts = {} if draft else services.state_counts(session, [campaign.id])[campaign.id]
    rates_error = None
    guess = None
    try:
        rates = DomainRates.parse(settings.domain_rates)
    except RateError as exc:
        rates, rates_error = DomainRates(), f"OUTREACH_DOMAIN_RATES: {exc}"
    if plan is not None and plan.letters:
        guess = estimate(
            plan.groups,
            rates=rates,
            pace_hours=campaign.pace_hours,
            office_hours=campaign.office_hours,
            start=max(_aware(campaign.scheduled_at) or utcnow(), utcnow()),
        )
    all_steps = steps(
        campaign,
        plan=plan,
        check=check,
        counts=counts,
        identity_problem=identity.problem or rates_error,
    )
    return Workspace(
        steps=all_steps,
        current=current,
        next=next_step(all_steps),
        plan=plan,
        check=check,
        identity=identity,
        estimate=guess,
        rates_error=rates_error,
    )
