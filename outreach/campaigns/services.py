"""Creating, checking and launching campaigns.

Launch materialises one Delivery row per (campaign, recipient) in bulk, appends their first events,
and defers one sending job per batch of delivery ids; the jobs are enqueued after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from contacts.audience import Audience, AudienceError
from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.letters import (
    LetterCheckError,
    check_language,
    check_letter,
    copy_for,
    letter_meta,
)
from outreach.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryEvent
from outreach.campaigns.states import DeliveryState
from outreach.jobs import SEND_BATCH, defer
from outreach.letters.lint import LintReport, lint_campaign
from outreach.letters.render import CampaignLetter, RenderedCopy


class CampaignError(ValueError):
    """A campaign action that cannot be done, with a message for staff."""


class WarningsNotConfirmed(CampaignError):
    """The check of every copy found warnings that staff have not confirmed yet."""


def _checked(campaign: Campaign) -> CampaignLetter:
    try:
        return check_letter(campaign)
    except LetterCheckError as exc:
        raise CampaignError(str(exc)) from exc


def _check_audience(session: Session, audience: dict[str, Any] | Audience) -> Audience:
    """The audience, checked down to the saved lists it names."""
    try:
        spec = audience if isinstance(audience, Audience) else Audience.from_dict(audience)
        spec.matching_condition(session)
    except AudienceError as exc:
        raise CampaignError(f"audience: {exc}") from exc
    return spec


def create_campaign(
    session: Session,
    *,
    name: str,
    subject: str,
    body: str,
    audience: dict[str, Any] | Audience,
    created_by_id: int | None = None,
    mail_from: str | None = None,
    language: str = "en",
    signatories: list[dict[str, str]] | None = None,
) -> Campaign:
    name = name.strip()
    if not name:
        raise CampaignError("a campaign needs a name")
    try:
        language = check_language(language)
    except LetterCheckError as exc:
        raise CampaignError(str(exc)) from exc
    campaign = Campaign(
        name=name,
        subject_template=subject,
        body_template=body,
        created_by_id=created_by_id,
        mail_from=mail_from,
        default_language=language,
        signatories=list(signatories or []),
    )
    _checked(campaign)
    campaign.audience = _check_audience(session, audience).to_dict()
    session.add(campaign)
    session.flush()
    return campaign


def update_campaign(
    session: Session,
    campaign: Campaign,
    *,
    name: str,
    subject: str,
    body: str,
    audience: dict[str, Any],
    language: str | None = None,
    signatories: list[dict[str, str]] | None = None,
) -> Campaign:
    """Change a draft; on CampaignError the caller rolls back (the object may be half-changed)."""
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError("a launched campaign's letter and audience can no longer be changed")
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    campaign.name = name.strip()
    campaign.subject_template = subject
    campaign.body_template = body
    if language is not None:
        try:
            campaign.default_language = check_language(language)
        except LetterCheckError as exc:
            raise CampaignError(str(exc)) from exc
        campaign.variants = [
            v for v in campaign.variants if v.language != campaign.default_language
        ]
    if signatories is not None:
        campaign.signatories = list(signatories)
    _checked(campaign)
    campaign.audience = _check_audience(session, audience).to_dict()
    return campaign


def preview(
    session: Session,
    campaign: Campaign,
    contact: Contact,
    *,
    default_from: str = "",
    language: str | None = None,
) -> RenderedCopy:
    """The copy this contact would receive (in `language`, or the one chosen for them)."""
    try:
        return copy_for(campaign, contact, default_from=default_from, language=language)
    except LetterCheckError as exc:
        raise CampaignError(str(exc)) from exc


@dataclass(frozen=True)
class LaunchResult:
    deliveries: int
    batches: int


def lint(session: Session, campaign: Campaign, *, default_from: str = "") -> LintReport:
    """Render every copy the campaign's audience would get and report what is wrong."""
    letter = _checked(campaign)
    audience = _check_audience(session, campaign.audience)
    return lint_campaign(
        letter, letter_meta(campaign, default_from=default_from), audience.contacts(session)
    )


def launch(
    session: Session,
    campaign_id: int,
    *,
    actor: str,
    batch_size: int,
    confirm_warnings: str | None = None,
) -> LaunchResult:
    """Create the deliveries of a draft campaign and defer their sending; the caller commits.

    Every recipient's copy is rendered and checked here (outreach.letters.lint): a launch with
    errors is refused before a single delivery exists, and one with warnings needs
    `confirm_warnings` equal to the digest of the report staff read.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"there is no campaign {campaign_id}")
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(f"campaign {campaign.name!r} has already been launched")
    letter = _checked(campaign)
    audience = _check_audience(session, campaign.audience)
    try:
        recipients = audience.contacts(session)
    except AudienceError as exc:
        raise CampaignError(f"audience: {exc}") from exc
    if not recipients:
        raise CampaignError(
            f"the audience ({audience.describe()}) has no one who can be written to; nothing was launched"
        )
    report = lint_campaign(letter, letter_meta(campaign), recipients)
    if report.errors:
        first = next(
            (
                f"{r.display_name}: {f.message}"
                for r in report.with_findings
                for f in r.findings
                if f.level == "error"
            ),
            "",
        )
        raise CampaignError(
            f"the check of every copy found {report.errors} error(s), e.g. {first}; nothing was launched"
        )
    if report.warnings and confirm_warnings != report.digest:
        raise WarningsNotConfirmed(
            f"the check of every copy found {report.warnings} warning(s): read them and confirm "
            "them to launch; nothing was launched"
        )

    now = utcnow()
    session.execute(
        insert(Delivery),
        [
            {
                "campaign_id": campaign.id,
                "contact_id": c.id,
                "email": c.email,
                "state": DeliveryState.QUEUED.value,
                "created_at": now,
                "updated_at": now,
            }
            for c in recipients
        ],
    )
    session.execute(
        insert(DeliveryEvent).from_select(
            ["delivery_id", "at", "to_state", "actor", "detail"],
            select(
                Delivery.id,
                literal(now),
                literal(DeliveryState.QUEUED.value),
                literal(actor),
                literal("launched"),
            ).where(Delivery.campaign_id == campaign.id),
        )
    )
    ids = list(
        session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == campaign.id).order_by(Delivery.id)
        )
    )
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    for batch in batches:
        defer(session, SEND_BATCH, batch)
    campaign.status = CampaignStatus.SENDING.value
    campaign.launched_at = now
    return LaunchResult(deliveries=len(ids), batches=len(batches))


def state_counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{campaign id: {state: count}} for the given campaigns, in one query."""
    counts: dict[int, dict[str, int]] = {cid: {} for cid in campaign_ids}
    if not campaign_ids:
        return counts
    rows = session.execute(
        select(Delivery.campaign_id, Delivery.state, func.count())
        .where(Delivery.campaign_id.in_(campaign_ids))
        .group_by(Delivery.campaign_id, Delivery.state)
    )
    for campaign_id, state, count in rows:
        counts[campaign_id][state] = count
    return counts
