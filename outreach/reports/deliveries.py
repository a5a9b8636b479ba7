"""The delivery table of a campaign: filters, one page at a time, and the count of all matches.

Filters: state, the official's country, political group and committee (a seat in
`memberships` with body kind `committee`, any role), combined with AND. Pages are keyset pages
on the delivery id (`after` the last id shown, or `before` the first), so page 2,000 costs what
page 1 costs; the counts of matches are one grouped `count(*)` with the same conditions, over the
campaign-state index when no contact column is filtered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from contacts.models import Contact, Membership
from outreach.campaigns.models import Delivery

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeliveryFilter:
    state: str = ""
    country: str = ""
    group: str = ""
    committee: str = ""

    @property
    def needs_contact(self) -> bool:
        return bool(self.country or self.group)

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class Row:
    id: int
    contact_id: int
    name: str
    country: str | None
    group: str | None
    email: str
    role: str
    state: str
    attempts: int
    smtp_code: int | None
    sent_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_after: int | None  # the id to pass as `after` for the next page
    previous_before: int | None  # the id to pass as `before` for the previous page


@dataclass(frozen=True)
class Choices:
    countries: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    committees: list[str] = field(default_factory=list)


def _countries(code: str) -> list[str]:
    # The EP writes Greece as EL; the rest of the directory as GR.
    return ["GR", "EL"] if code.upper() in ("GR", "EL") else [code.upper()]


def conditions(campaign_id: int, f: DeliveryFilter) -> list[ColumnElement[bool]]:
    """The WHERE of the filter (the contacts table joined when country or group is asked)."""
    where: list[ColumnElement[bool]] = [Delivery.campaign_id == campaign_id]
    if f.state:
        where.append(Delivery.state == f.state)
    if f.country:
        where.append(Contact.country_code.in_(_countries(f.country)))
    if f.group:
        where.append(Contact.political_group_short == f.group)
    if f.committee:
        # The committee's members once (the small memberships table), then each letter's
        # official looked up in that set: cheaper than a correlated EXISTS per letter.
        where.append(
            Delivery.contact_id.in_(
                select(Membership.contact_id).where(
                    Membership.acronym == f.committee, Membership.body_kind == "committee"
                )
            )
        )
    return where


def _from(stmt: Any, f: DeliveryFilter) -> Any:
    return stmt.join(Contact, Contact.id == Delivery.contact_id) if f.needs_contact else stmt


def count(session: Session, campaign_id: int, f: DeliveryFilter) -> int:
    stmt = _from(select(func.count()).select_from(Delivery), f)
    return int(session.scalar(stmt.where(*conditions(campaign_id, f))) or 0)


def counts_by_state(session: Session, campaign_id: int, f: DeliveryFilter) -> dict[str, int]:
    """{state: deliveries} of the filter's other conditions (its state left aside): the total,
    the figures of the state menu and of "all matching" come from this one grouped query."""
    unstated = DeliveryFilter("", f.country, f.group, f.committee)
    stmt = _from(select(Delivery.state, func.count()).select_from(Delivery), unstated)
    rows = session.execute(
        stmt.where(*conditions(campaign_id, unstated)).group_by(Delivery.state)
    ).all()
    return {state: int(n) for state, n in rows}


def page(
    session: Session,
    campaign_id: int,
    f: DeliveryFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    # The page's ids first: without a contact filter this reads only the campaign-state index
    # (which holds the id), so the officials are joined for the 51 rows shown, not for every
    # letter of the drive.
    ids = _from(select(Delivery.id), f).where(*conditions(campaign_id, f))
    if before is not None:
        ids = ids.where(Delivery.id < before).order_by(Delivery.id.desc())
    else:
        if after is not None:
            ids = ids.where(Delivery.id > after)
        ids = ids.order_by(Delivery.id)
    chosen = list(session.scalars(ids.limit(size + 1)))
    stmt = (
        select(
            Delivery.id,
            Delivery.contact_id,
            Contact.display_name,
            Contact.country_code,
            Contact.political_group_short,
            Delivery.email,
            Delivery.role,
            Delivery.state,
            Delivery.attempts,
            Delivery.last_smtp_code,
            Delivery.sent_at,
            Delivery.updated_at,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.id.in_(chosen))
        .order_by(Delivery.id.desc() if before is not None else Delivery.id)
    )
    # One more than a page tells whether there is a page beyond it.
    found = [Row(*tuple(r)) for r in session.execute(stmt)] if chosen else []
    more = len(found) > size
    rows = found[:size]
    if before is not None:
        rows.reverse()
        has_next, has_previous = True, more
    else:
        has_next, has_previous = more, after is not None
    return Page(
        rows=rows,
        next_after=rows[-1].id if rows and has_next else None,
        previous_before=rows[0].id if rows and has_previous else None,
    )


def matching_ids(
    session: Session, campaign_id: int, f: DeliveryFilter, states: Iterable[str]
) -> list[int]:
    """Every delivery of the filter in one of `states` ("all matching the filter")."""
    stmt = _from(select(Delivery.id), f).where(
        *conditions(campaign_id, f), Delivery.state.in_(list(states))
    )
    return list(session.scalars(stmt.order_by(Delivery.id)))


def of_campaign(session: Session, campaign_id: int, ids: Iterable[int]) -> list[int]:
    """The ids among `ids` that are deliveries of this campaign (what a form may name)."""
    wanted = sorted(set(ids))
    found: list[int] = []
    for start in range(0, len(wanted), 500):
        found += session.scalars(
            select(Delivery.id).where(
                Delivery.campaign_id == campaign_id, Delivery.id.in_(wanted[start : start + 500])
            )
        )
    return found


def choices(session: Session) -> Choices:
    """What the filters offer: the directory's countries, groups and committees (indexed
    columns and the small memberships table, not a scan of the deliveries)."""
    countries = session.scalars(
        select(Contact.country_code).where(Contact.country_code.is_not(None)).distinct()
    )
    groups = session.scalars(
        select(Contact.political_group_short)
        .where(Contact.political_group_short.is_not(None))
        .distinct()
    )
    committees = session.scalars(
        select(Membership.acronym).where(Membership.body_kind == "committee").distinct()
    )
    normal = {"EL": "GR"}
    return Choices(
        countries=sorted({normal.get(c, c) for c in countries if c}),
        groups=sorted(g for g in groups if g),
        committees=sorted(c for c in committees if c),
    )
