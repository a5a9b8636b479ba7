"""Four-eyes for follow-up letters: scheduling a follow-up that can reach more officials than the
threshold needs a second person's approval, as a launch does (outreach.campaigns.approval, whose
request rows and audit records it shares).

What is approved is the follow-up's letter (`followup.fingerprint`) and the most letters it can
send when asked (`followup.reach`: every letter of the drive still unanswered). Editing the
letter voids the approval; a follow-up that would send more letters than approved (the drive was
still sending when it was approved) needs a new one. The maintenance sweep checks the same when
the follow-up's day comes (`followup.approval_refusal`). Services only: the caller commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from outreach.accounts.models import User
from outreach.campaigns import approval
from outreach.campaigns.approval import ApprovalView, Gate, LaunchApproval, LaunchPlan
from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.followups import followup as followups

WHAT = "follow-up"


def schedule_gate(session: Session, followup: Campaign, requester: User, *, threshold: int) -> Gate:
    """Called by the console's Schedule button before `followup.schedule`: a follow-up that
    needs approval and has none records a request (the caller commits) and is blocked."""
    if threshold <= 0 or followup.status != CampaignStatus.DRAFT:
        return Gate(False)
    letters = followups.reach(session, followup)
    if followups.approval_refusal(session, followup, letters, threshold=threshold) is None:
        return Gate(False)
    plan = LaunchPlan(letters, followups.fingerprint(followup))
    row = approval.request_approval(session, followup, requester, plan, what=WHAT)
    return Gate(
        True,
        f"Waiting for approval by a second person: this follow-up can send {letters} letters, "
        f"more than {threshold}. Another campaigner or admin approves it on this page; then "
        "schedule it again.",
        row,
    )


def approve(
    session: Session, followup: Campaign, approver: User, *, seen_fingerprint: str
) -> LaunchApproval:
    """The second person's approval of the open request, for the letter they saw."""
    return approval.approve_version(
        session,
        followup,
        approver,
        seen_fingerprint=seen_fingerprint,
        current=followups.fingerprint(followup),
        what=WHAT,
    )


def withdraw(session: Session, followup: Campaign, user: User) -> LaunchApproval:
    return approval.withdraw(session, followup, user, what=WHAT)


def approval_view(session: Session, followup: Campaign) -> ApprovalView:
    """The newest request's state (none, pending, approved, void) for the follow-up's page."""
    return approval.approval_view(session, followup, current=followups.fingerprint(followup))
