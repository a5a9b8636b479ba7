"""Reply rate by political group and by country: who answers.

A letter counts once it reached its recipient: `sent` or `replied` (a bounced letter did not
reach anyone, a failed one never left). The rate is replied / reached. Group and country are the
official's as the directory holds them now (a delivery keeps only the address it was sent to),
one grouped join each. The reply itself is the delivery's `replied` state, set by
outreach.tracking when a person's answer (not an auto-reply) is matched to the letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from contacts.countries import normalise_country_code
from contacts.models import Contact
from outreach.campaigns.models import Delivery

REACHED = ("sent", "replied")


@dataclass(frozen=True)
class RateRow:
    key: str  # the group's short name or the country code; "" when the directory has none
    reached: int
    replied: int

    @property
    def rate(self) -> float:
        return self.replied / self.reached if self.reached else 0.0


def _by(session: Session, campaign_id: int, column: Any) -> list[RateRow]:
    replied = func.sum(case((Delivery.state == "replied", 1), else_=0))
    rows = session.execute(
        select(column, func.count(), replied)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id, Delivery.state.in_(REACHED))
        .group_by(column)
    ).all()
    return [RateRow(key or "", int(n), int(r or 0)) for key, n, r in rows]


def by_group(session: Session, campaign_id: int) -> list[RateRow]:
    """Per political group (its short name), the highest rate first."""
    rows = _by(session, campaign_id, Contact.political_group_short)
    return sorted(rows, key=lambda r: (-r.rate, -r.reached, r.key))


def by_country(session: Session, campaign_id: int) -> list[RateRow]:
    """Per country (ISO code; the EU's EL counts as GR), the highest rate first."""
    merged: dict[str, list[int]] = {}
    for row in _by(session, campaign_id, Contact.country_code):
        key = normalise_country_code(row.key) or row.key if row.key else ""
        totals = merged.setdefault(key, [0, 0])
        totals[0] += row.reached
        totals[1] += row.replied
    rows = [RateRow(k, n, r) for k, (n, r) in merged.items()]
    return sorted(rows, key=lambda r: (-r.rate, -r.reached, r.key))


def totals(session: Session, campaign_id: int) -> RateRow:
    replied = func.sum(case((Delivery.state == "replied", 1), else_=0))
    n, r = session.execute(
        select(func.count(), replied).where(
            Delivery.campaign_id == campaign_id, Delivery.state.in_(REACHED)
        )
    ).one()
    return RateRow("", int(n or 0), int(r or 0))
