"""Staff's side of signatures: a campaign's public settings, the list, and the review of
signatures held as part of a burst (approve: a confirmation mail is sent as if it had just been
signed; reject: it stays stored, so the address cannot sign again, and never counts)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from contacts.base import utcnow
from outreach.campaigns.models import Campaign
from outreach.supporters.models import CosignerDisplay, Signature, SignatureState
from outreach.supporters.outbox import kick_after_commit

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
COMMITTEE = re.compile(r"^[A-Z0-9-]{2,12}$")
MAX_NOTICE = 20_000


class PublicSettingsError(ValueError):
    """A public setting that cannot be saved, with the reason."""


@dataclass(frozen=True)
class PublicSettings:
    slug: str | None
    signing_open: bool
    signature_goal: int | None
    cosigner_display: str
    privacy_notice: str | None
    # Write to your MEPs (outreach.supporters.letters).
    supporter_letters: bool = False
    supporter_committees: str = ""
    supporter_daily_cap: int | None = None
    supporter_message: str | None = None
    supporter_message_max: int = 1500


def set_public_settings(session: Session, campaign: Campaign, values: PublicSettings) -> None:
    """Apply the public page's settings (the caller commits); a slug must be free."""
    slug = (values.slug or "").strip().lower() or None
    if slug is not None:
        if len(slug) > 80 or not SLUG.match(slug):
            raise PublicSettingsError(
                "the address of the public page takes lower-case letters, digits and single "
                "hyphens, e.g. free-the-fishermen"
            )
        taken = session.scalar(
            select(Campaign.id).where(Campaign.slug == slug, Campaign.id != campaign.id)
        )
        if taken is not None:
            raise PublicSettingsError(f"the address /c/{slug} is used by another campaign")
    if values.signing_open and slug is None:
        raise PublicSettingsError("signing can only be open on a campaign with a public page")
    if values.cosigner_display not in {d.value for d in CosignerDisplay}:
        raise PublicSettingsError(f"unknown co-signer display {values.cosigner_display!r}")
    if values.signature_goal is not None and values.signature_goal < 1:
        raise PublicSettingsError("the goal is a number of signatures, 1 or more")
    campaign.slug = slug
    campaign.signing_open = values.signing_open
    campaign.signature_goal = values.signature_goal
    campaign.cosigner_display = values.cosigner_display
    notice = (values.privacy_notice or "").strip()
    campaign.privacy_notice = notice[:MAX_NOTICE] or None
    set_letter_settings(campaign, values)


def set_letter_settings(campaign: Campaign, values: PublicSettings) -> None:
    """The write-to-your-MEPs settings; the mode itself only while the campaign is a draft (a
    launched drive's deliveries were made for one mode)."""
    committees = [c.strip().upper() for c in values.supporter_committees.split(",") if c.strip()]
    if any(not COMMITTEE.match(c) for c in committees):
        raise PublicSettingsError(
            "committees are acronyms such as AFET or DROI, separated by commas"
        )
    if values.supporter_daily_cap is not None and values.supporter_daily_cap < 1:
        raise PublicSettingsError("the daily cap is a number of letters, 1 or more")
    if not 100 <= values.supporter_message_max <= 10_000:
        raise PublicSettingsError("a supporter may write between 100 and 10,000 characters")
    if values.supporter_letters != campaign.supporter_letters and campaign.status != "draft":
        raise PublicSettingsError(
            "whether supporters write to their MEPs can only change while the campaign is a draft"
        )
    campaign.supporter_letters = values.supporter_letters
    campaign.supporter_committees = committees
    campaign.supporter_daily_cap = values.supporter_daily_cap
    campaign.supporter_message = (values.supporter_message or "").strip() or None
    campaign.supporter_message_max = values.supporter_message_max


def state_counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Signature.state, func.count())
        .where(Signature.campaign_id == campaign_id)
        .group_by(Signature.state)
    )
    return {state: count for state, count in rows}


def signatures(
    session: Session, campaign_id: int, *, state: str = "", limit: int = 50, offset: int = 0
) -> list[Signature]:
    stmt = select(Signature).where(Signature.campaign_id == campaign_id)
    if state:
        stmt = stmt.where(Signature.state == state)
    return list(session.scalars(stmt.order_by(Signature.id.desc()).limit(limit).offset(offset)))


def review(
    session: Session, campaign_id: int, signature_id: int, *, approve: bool, actor: str
) -> bool:
    """Approve or reject a held signature (compare-and-set on `held`); False if it was not
    held (any more). An approved one becomes pending and gets its confirmation mail."""
    now = utcnow()
    target = SignatureState.PENDING if approve else SignatureState.REJECTED
    changed = session.scalar(
        update(Signature)
        .where(
            Signature.id == signature_id,
            Signature.campaign_id == campaign_id,
            Signature.state == SignatureState.HELD.value,
        )
        .values(
            state=target.value,
            reviewed_by=actor[:100],
            updated_at=now,
            confirmation_requested_at=now if approve else None,
            confirmation_claimed_at=None,
        )
        .returning(Signature.id)
    )
    if changed is None:
        return False
    if approve:
        kick_after_commit(session)  # its row asks for the mail; the worker's sweep sends it
    return True
