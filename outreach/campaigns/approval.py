"""Four-eyes launches: a campaign to more recipients than a threshold launches only once a second
person (a campaigner or an admin, never the one who asked) has approved it.

The approval is bound to what was approved: the check fingerprint of the campaign
(`services.check_fingerprint`: the letter in every language, sender, signatories, addressing,
and each recipient's id, address and last change). Editing the letter or the audience after the
approval changes the fingerprint and voids it; the launcher must ask again. The approver's page
sends the fingerprint it showed, so a change made while the approver was reading is refused too.

Flow: launch (blocked: a request is recorded) → approve (another person) → launch (goes).
Follow-up letters use the same requests and rows, bound to their own fingerprint
(outreach.followups.four_eyes). Services only: the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contacts.base import Base, utcnow
from outreach.accounts.models import User
from outreach.accounts.roles import may_approve
from outreach.audit import record, user_actor
from outreach.campaigns import services
from outreach.campaigns.letters import letter_meta
from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.supporters.cosigners import cosigners_for


class ApprovalError(ValueError):
    pass


class LaunchApproval(Base):
    """One request for a second person's approval of a launch, and its answer."""

    __tablename__ = "launch_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipients: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(64))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


@dataclass(frozen=True)
class LaunchPlan:
    """What a launch would send now: how many letters, and the fingerprint of it all."""

    recipients: int
    fingerprint: str


def launch_plan(session: Session, campaign: Campaign, *, default_from: str = "") -> LaunchPlan:
    """The recipients and fingerprint as `services.launch` would compute them (CampaignError
    when the campaign cannot launch at all)."""
    plan = services._recipients(session, campaign, as_rows=True)
    meta = letter_meta(
        campaign, default_from=default_from, cosigners=cosigners_for(session, campaign)
    )
    count = len(plan.addressees) + len(plan.cc) + len(plan.copies)
    return LaunchPlan(count, services.check_fingerprint(campaign, meta, plan))


def approval_required(campaign: Campaign, recipient_count: int, *, threshold: int) -> bool:
    """Whether launching `campaign` to `recipient_count` letters needs a second person
    (threshold 0: never). A write-to-your-MEPs drive sends nothing at launch: never."""
    if threshold <= 0 or campaign.supporter_letters:
        return False
    return recipient_count > threshold


def latest_request(session: Session, campaign_id: int) -> LaunchApproval | None:
    return session.scalar(
        select(LaunchApproval)
        .where(LaunchApproval.campaign_id == campaign_id, LaunchApproval.withdrawn_at.is_(None))
        .order_by(LaunchApproval.id.desc())
        .limit(1)
    )


def approval_granted(
    session: Session, campaign: Campaign, *, fingerprint: str | None = None, default_from: str = ""
) -> LaunchApproval | None:
    """The approval that lets `campaign` launch now: approved by a second person for exactly the
    campaign as it is (its fingerprint now); None otherwise."""
    row = latest_request(session, campaign.id)
    if row is None or row.approved_at is None:
        return None
    if fingerprint is None:
        fingerprint = launch_plan(session, campaign, default_from=default_from).fingerprint
    return row if row.fingerprint == fingerprint else None


def request_approval(
    session: Session, campaign: Campaign, requester: User, plan: LaunchPlan, *, what: str = "launch"
) -> LaunchApproval:
    """Record the request (or keep the open one for the same fingerprint); older requests for
    another version of the campaign are withdrawn. `what` names the action in the audit log."""
    row = latest_request(session, campaign.id)
    if row is not None and row.approved_at is None and row.fingerprint == plan.fingerprint:
        return row
    if row is not None:
        row.withdrawn_at = utcnow()
    row = LaunchApproval(
        campaign_id=campaign.id,
        requested_by_id=requester.id,
        recipients=plan.recipients,
        fingerprint=plan.fingerprint,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=user_actor(requester),
        actor_id=requester.id,
        action="campaign.approval_request",
        object_type="campaign",
        object_id=campaign.id,
        summary=f"Asked a second person to approve the {what} of campaign {campaign.id} "
        f"({plan.recipients} letters)",
    )
    return row


def approve(
    session: Session,
    campaign: Campaign,
    approver: User,
    *,
    seen_fingerprint: str,
    default_from: str = "",
) -> LaunchApproval:
    """The second person's approval of the open request, for the version they saw."""
    if not may_approve(approver):
        raise ApprovalError(f"a {approver.role} cannot approve a launch")
    if campaign.status != CampaignStatus.DRAFT:
        raise ApprovalError("the campaign has already been launched")
    current = launch_plan(session, campaign, default_from=default_from).fingerprint
    return approve_version(
        session, campaign, approver, seen_fingerprint=seen_fingerprint, current=current
    )


def approve_version(
    session: Session,
    campaign: Campaign,
    approver: User,
    *,
    seen_fingerprint: str,
    current: str,
    what: str = "launch",
) -> LaunchApproval:
    """Approve the open request of a draft if both what the approver saw and what the campaign
    is now (`current`, its fingerprint) are the version that was asked for."""
    if not may_approve(approver):
        raise ApprovalError(f"a {approver.role} cannot approve a {what}")
    if campaign.status != CampaignStatus.DRAFT:
        raise ApprovalError("the campaign has already been launched")
    row = latest_request(session, campaign.id)
    if row is None:
        raise ApprovalError(f"no one has asked for this {what} to be approved")
    if row.requested_by_id == approver.id:
        raise ApprovalError("the person who asked cannot approve: another person must")
    if row.approved_at is not None:
        raise ApprovalError(f"this {what} is already approved")
    if current != row.fingerprint or seen_fingerprint != row.fingerprint:
        raise ApprovalError(
            "the letter or its audience changed since the request: the launcher must ask again"
        )
    row.approved_by_id = approver.id
    row.approved_at = utcnow()
    record(
        session,
        actor=user_actor(approver),
        actor_id=approver.id,
        action="campaign.approve",
        object_type="campaign",
        object_id=campaign.id,
        summary=f"Approved the {what} of campaign {campaign.id} ({row.recipients} letters), "
        f"asked by user {row.requested_by_id}",
    )
    return row


def withdraw(
    session: Session, campaign: Campaign, user: User, *, what: str = "launch"
) -> LaunchApproval:
    row = latest_request(session, campaign.id)
    if row is None:
        raise ApprovalError("there is no request to withdraw")
    row.withdrawn_at = utcnow()
    record(
        session,
        actor=user_actor(user),
        actor_id=user.id,
        action="campaign.approval_withdraw",
        object_type="campaign",
        object_id=campaign.id,
        summary=f"Withdrew the request to approve the {what} of campaign {campaign.id}",
    )
    return row


@dataclass(frozen=True)
class Gate:
    """The answer to "may this launch go now?": `blocked` with the reason shown to staff."""

    blocked: bool
    message: str = ""
    request: LaunchApproval | None = None


def launch_gate(
    session: Session,
    campaign_id: int,
    requester: User,
    *,
    threshold: int,
    default_from: str = "",
) -> Gate:
    """Called by the console's and the API's launch before `services.launch`. A launch that
    needs approval and has none records a request (the caller commits) and is blocked. Anything
    else (a missing or launched campaign, an empty audience) is left to `services.launch`."""
    campaign = session.get(Campaign, campaign_id)
    if threshold <= 0 or campaign is None or campaign.status != CampaignStatus.DRAFT:
        return Gate(False)
    try:
        plan = launch_plan(session, campaign, default_from=default_from)
    except services.CampaignError:
        return Gate(False)
    if not approval_required(campaign, plan.recipients, threshold=threshold):
        return Gate(False)
    if approval_granted(session, campaign, fingerprint=plan.fingerprint) is not None:
        return Gate(False)
    row = request_approval(session, campaign, requester, plan)
    return Gate(
        True,
        f"Waiting for approval by a second person: {plan.recipients} letters is more than "
        f"{threshold}. Another campaigner or admin approves it on the campaign's page; then "
        "launch again.",
        row,
    )


@dataclass(frozen=True)
class ApprovalView:
    """What the campaign page shows: the state of the newest request."""

    state: str  # none, pending, approved, void
    request: LaunchApproval | None
    requested_by: str = ""
    approved_by: str = ""


def approval_view(
    session: Session, campaign: Campaign, *, default_from: str = "", current: str | None = None
) -> ApprovalView:
    """The newest request's state against `current` (the campaign's fingerprint now; by default
    its launch plan's)."""
    row = latest_request(session, campaign.id) if campaign.status == CampaignStatus.DRAFT else None
    if row is None:
        return ApprovalView("none", None)

    def email(user_id: int | None) -> str:
        user = session.get(User, user_id) if user_id else None
        return user.email if user else "a former user"

    if current is None:
        try:
            current = launch_plan(session, campaign, default_from=default_from).fingerprint
        except services.CampaignError:
            current = ""
    state = "pending" if row.approved_at is None else "approved"
    if current != row.fingerprint:
        state = "void"
    return ApprovalView(
        state, row, email(row.requested_by_id), email(row.approved_by_id) if row.approved_at else ""
    )
