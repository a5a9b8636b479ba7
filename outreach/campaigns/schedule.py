"""Launching a draft later: scheduling, unscheduling, and the sweep that launches due drives.

`schedule` checks what can be checked now (a draft, a moment in the future, a letter that
compiles, someone to write to) and records when, who asked, and the digest of the check of every
copy whose warnings they confirmed. Nothing else happens until then: the letter and the audience
can still change, and are read as they are at the scheduled time.

`launch_due` is the maintenance sweep (workers/maintenance.py, once per reconciler interval). It
launches each due draft through `services.launch`, the service behind the console's launch
button, with the same checks: the stored check if nothing it read has changed, else a new one, and
warnings only if their digest is the one confirmed when scheduling. A refused launch leaves the
campaign a draft, unscheduled, with the reason in `schedule_error`, which its page shows. Each
campaign is launched in its own transaction, its row locked (PostgreSQL), so two sweeps never
launch one drive twice and one refused or failed launch does not hold back the others (a failure
that is not a refusal, such as a lost database connection, leaves the schedule for the next pass).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.campaigns import approval, services
from outreach.campaigns.letters import LetterCheckError, check_letter
from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.db import Database

log = logging.getLogger(__name__)


class ScheduleError(services.CampaignError):
    """A schedule that cannot be set, with a message for staff."""


def _aware(at: datetime) -> datetime:
    """A naive moment is UTC (the console's fields say so)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def schedule(
    session: Session,
    campaign_id: int,
    at: datetime,
    *,
    actor: str,
    confirm_warnings: str | None = None,
    now: datetime | None = None,
) -> Campaign:
    """Launch this draft at `at` (naive: UTC); the caller commits."""
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise ScheduleError(f"there is no campaign {campaign_id}")
    if campaign.status != CampaignStatus.DRAFT:
        raise ScheduleError(f"campaign {campaign.name!r} has already been launched")
    at = _aware(at)
    if at <= (now or utcnow()):
        raise ScheduleError(
            f"{at:%d %b %Y %H:%M} UTC has passed: choose a later moment, or launch now"
        )
    # What is wrong now is still wrong then: say it while staff are here to fix it.
    _ready(session, campaign)
    campaign.scheduled_at = at
    campaign.scheduled_by = actor[:100]
    campaign.scheduled_digest = confirm_warnings or None
    campaign.schedule_error = None
    return campaign


def _ready(session: Session, campaign: Campaign) -> None:
    """The letter compiles in every language and the audience has someone (CampaignError)."""
    try:
        check_letter(campaign)
    except LetterCheckError as exc:
        raise ScheduleError(str(exc)) from exc
    if not campaign.supporter_letters:
        services._recipients(session, campaign, as_rows=True)


def unschedule(session: Session, campaign_id: int) -> Campaign:
    """Keep the draft a draft: no launch at the scheduled time; the caller commits."""
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise ScheduleError(f"there is no campaign {campaign_id}")
    if campaign.status != CampaignStatus.DRAFT or campaign.scheduled_at is None:
        raise ScheduleError("the campaign is not scheduled")
    campaign.scheduled_at = None
    campaign.scheduled_by = None
    campaign.scheduled_digest = None
    return campaign


@dataclass
class SweepReport:
    launched: dict[int, int] = field(default_factory=dict)  # campaign id: letters queued
    refused: dict[int, str] = field(default_factory=dict)  # campaign id: why

    def __bool__(self) -> bool:
        return bool(self.launched or self.refused)


def _require_approval(
    session: Session, campaign: Campaign, *, threshold: int, default_from: str
) -> None:
    """Four-eyes holds for a scheduled launch too: more than `threshold` letters need a second
    person's approval of this very letter and audience (outreach.campaigns.approval), given
    before the moment comes."""
    if threshold <= 0:
        return
    plan = approval.launch_plan(session, campaign, default_from=default_from)
    if not approval.approval_required(campaign, plan.recipients, threshold=threshold):
        return
    if approval.approval_granted(session, campaign, fingerprint=plan.fingerprint) is None:
        raise services.CampaignError(
            f"{plan.recipients} letters is more than {threshold}: a second person must approve "
            "this letter and audience first (on the campaign's page), then schedule it again"
        )


def launch_due(
    db: Database,
    *,
    batch_size: int,
    default_from: str = "",
    now: datetime | None = None,
    four_eyes_threshold: int = 0,
) -> SweepReport:
    """Launch every draft whose scheduled moment has come (see the module's docstring)."""
    now = now or utcnow()
    report = SweepReport()
    with db.transaction() as session:
        due = list(
            session.scalars(
                select(Campaign.id)
                .where(
                    Campaign.status == CampaignStatus.DRAFT.value,
                    Campaign.scheduled_at.is_not(None),
                    Campaign.scheduled_at <= now,
                )
                .order_by(Campaign.scheduled_at, Campaign.id)
            )
        )
    for campaign_id in due:
        try:
            with db.transaction() as session:
                campaign = session.scalar(
                    select(Campaign)
                    .where(
                        Campaign.id == campaign_id,
                        Campaign.status == CampaignStatus.DRAFT.value,
                        Campaign.scheduled_at <= now,
                    )
                    .with_for_update(skip_locked=True)
                )
                if campaign is None:  # unscheduled, launched or being launched meanwhile
                    continue
                _require_approval(
                    session, campaign, threshold=four_eyes_threshold, default_from=default_from
                )
                result = services.launch(
                    session,
                    campaign_id,
                    actor=f"schedule: {campaign.scheduled_by or 'staff'}"[:100],
                    batch_size=batch_size,
                    confirm_warnings=campaign.scheduled_digest,
                    default_from=default_from,
                )
                campaign.schedule_error = None
            report.launched[campaign_id] = result.deliveries
        except services.CampaignError as exc:
            reason = f"Not launched at the scheduled time ({now:%d %b %Y %H:%M} UTC): {exc}"
            with db.transaction() as session:
                campaign = session.get(Campaign, campaign_id)
                if campaign is not None and campaign.status == CampaignStatus.DRAFT:
                    campaign.scheduled_at = None
                    campaign.scheduled_digest = None
                    campaign.schedule_error = reason
            report.refused[campaign_id] = str(exc)
            log.warning("scheduled campaign %s not launched: %s", campaign_id, exc)
        except Exception:
            # Not a refusal but a fault (the database went away, a bug): nothing was committed,
            # the campaign stays scheduled and the next pass tries again; the others go on.
            log.exception("scheduled campaign %s: launch failed; will try again", campaign_id)
    return report
