"""What a campaign's letter shows of its co-signers (`{{ cosigners.count }}`,
`cosigners.names`): only confirmed signatures, names only of those who agreed to be named, and
only what the campaign chose to show (none, the count, the names, or both)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign
from outreach.letters.render import CosignersView
from outreach.supporters.models import CosignerDisplay, Signature, SignatureState
from outreach.supporters.signing import confirmed_count

D = CosignerDisplay


def named_cosigners(session: Session, campaign_id: int, limit: int | None = None) -> list[str]:
    """Names of the confirmed signatures that agreed to be named, in the order they confirmed."""
    stmt = (
        select(Signature.name)
        .where(
            Signature.campaign_id == campaign_id,
            Signature.state == SignatureState.CONFIRMED.value,
            Signature.named.is_(True),
        )
        .order_by(Signature.confirmed_at, Signature.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def cosigners_for(session: Session, campaign: Campaign) -> CosignersView:
    """The co-signers as the letter shows them at this moment."""
    display = campaign.cosigner_display
    if display not in {D.COUNT, D.NAMES, D.BOTH}:
        return CosignersView()
    count = confirmed_count(session, campaign.id) if display in {D.COUNT, D.BOTH} else 0
    names = tuple(named_cosigners(session, campaign.id)) if display in {D.NAMES, D.BOTH} else ()
    return CosignersView(count=count, names=names)
