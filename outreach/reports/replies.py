"""Reply rate by political group and by country: who answers.

A letter counts once it reached its recipient: `sent` or `replied` (a bounced letter did not
reach anyone, a failed one never left). The rate is replied / reached. Group and country are the
official's as the directory holds them now (a delivery keeps only the address it was sent to):
one grouped join by (country, group) answers both questions and the total. The reply itself is the delivery's `replied` state, set by
outreach.tracking when a person's answer (not an auto-reply) is matched to the letter.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _cells(session: Session, campaign_id: int) -> list[tuple[str, str, int, int]]:
    """(country, group, reached, replied) per pair: one grouped join answers both questions."""
    replied = func.sum(case((Delivery.state == "replied", 1), else_=0))
    rows = session.execute(
        select(Contact.country_code, Contact.political_group_short, func.count(), replied)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id, Delivery.state.in_(REACHED))
        .group_by(Contact.country_code, Contact.political_group_short)
    ).all()
    return [
        ((normalise_country_code(c) or c) if c else "", g or "", int(n), int(r or 0))
        for c, g, n, r in rows
    ]


def _sum(cells: list[tuple[str, str, int, int]], index: int) -> list[RateRow]:
    totals: dict[str, list[int]] = {}
    for cell in cells:
        t = totals.setdefault(cell[0] if index == 0 else cell[1], [0, 0])
        t[0] += cell[2]
        t[1] += cell[3]
    rows = [RateRow(k, n, r) for k, (n, r) in totals.items()]
    return sorted(rows, key=lambda r: (-r.rate, -r.reached, r.key))


@dataclass(frozen=True)
class Rates:
    by_country: list[RateRow]  # ISO codes (the EU's EL counts as GR), highest rate first
    by_group: list[RateRow]  # group short names, highest rate first
    total: RateRow


def rates(session: Session, campaign_id: int) -> Rates:
    cells = _cells(session, campaign_id)
    total = RateRow("", sum(c[2] for c in cells), sum(c[3] for c in cells))
    return Rates(_sum(cells, 0), _sum(cells, 1), total)


def by_group(session: Session, campaign_id: int) -> list[RateRow]:
    """Per political group (its short name), the highest rate first."""
    return rates(session, campaign_id).by_group


def by_country(session: Session, campaign_id: int) -> list[RateRow]:
    """Per country (ISO code; the EU's EL counts as GR), the highest rate first."""
    return rates(session, campaign_id).by_country


def totals(session: Session, campaign_id: int) -> RateRow:
    return rates(session, campaign_id).total
