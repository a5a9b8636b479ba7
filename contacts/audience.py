"""Audiences: which officials a campaign writes to, and who is left out and why.

An audience is a filter in the language of contacts/filters.py plus, optionally, hand-picked
contacts (a static list). Only contacts that can be written to are ever selected: active, not
marked do-not-contact, not waiting for review, with a primary address whose status is ok. The
others that match are counted by reason, so staff see "12 excluded: 9 no valid address, 3 inactive"
instead of wondering where they went.

Campaigns store an audience as ``{"filter": "...", "contact_ids": [...]}``. The structured fields
of earlier drafts (kinds, countries, groups, bodies, exclude_groups) are still read and turned
into the equivalent filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from contacts.filters import (
    FilterError,
    ListResolver,
    audience_condition,
    format_term,
    parse_filter,
)
from contacts.models import Contact, EmailStatus, SavedAudience

_STRUCTURED = {"kinds": "kind", "countries": "country", "groups": "group", "bodies": "body"}


class AudienceError(ValueError):
    """The audience spec cannot be used (a filter error, an unknown field, a bad id)."""


def sendable_condition() -> ColumnElement[bool]:
    return and_(
        Contact.active.is_(True),
        Contact.do_not_contact.is_(False),
        Contact.needs_review.is_(False),
        Contact.email.is_not(None),
        Contact.email != "",
        Contact.email_status == EmailStatus.OK.value,
    )


@dataclass(frozen=True)
class Exclusions:
    """Contacts that match the filter but will not be written to, by the first reason that applies."""

    do_not_contact: int = 0
    inactive: int = 0
    needs_review: int = 0
    no_valid_address: int = 0

    @property
    def total(self) -> int:
        return self.do_not_contact + self.inactive + self.needs_review + self.no_valid_address

    def describe(self) -> str:
        parts = [
            (self.no_valid_address, "no valid address"),
            (self.inactive, "inactive"),
            (self.do_not_contact, "do not contact"),
            (self.needs_review, "waiting for review"),
        ]
        return ", ".join(f"{n} {label}" for n, label in parts if n)


def _resolver(session: Session) -> ListResolver:
    def resolve(name_or_id: str) -> tuple[str, Sequence[int]]:
        stmt = select(SavedAudience)
        stmt = (
            stmt.where(SavedAudience.id == int(name_or_id))
            if name_or_id.isdigit()
            else stmt.where(func.lower(SavedAudience.name) == name_or_id.lower())
        )
        saved = session.scalars(stmt).first()
        if saved is None:
            raise KeyError(name_or_id)
        return saved.filter, saved.contact_ids

    return resolve


@dataclass(frozen=True)
class Audience:
    filter: str = ""
    contact_ids: list[int] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Audience:
        data = dict(data or {})
        known = {"filter", "contact_ids", "exclude_groups", *_STRUCTURED}
        unknown = set(data) - known
        if unknown:
            raise AudienceError(f"unknown audience field(s): {', '.join(sorted(unknown))}")
        terms = [str(data.get("filter") or "").strip()]
        for name, key in _STRUCTURED.items():
            values = [str(v).strip() for v in data.get(name) or () if str(v).strip()]
            if values:
                terms.append(format_term(key, values))
        text = " and ".join(f"({t})" if " or " in t or " except " in t else t for t in terms if t)
        excluded = [str(v).strip() for v in data.get("exclude_groups") or () if str(v).strip()]
        if excluded:
            text = f"{text or 'active:yes'} except {format_term('group', excluded)}"
        try:
            ids = sorted({int(i) for i in data.get("contact_ids") or ()})
        except (TypeError, ValueError) as exc:
            raise AudienceError("contact_ids must be whole numbers") from exc
        audience = cls(filter=text, contact_ids=ids)
        audience.check()
        return audience

    def check(self) -> None:
        """Raise AudienceError if the filter does not parse (lists are checked when evaluated)."""
        try:
            parse_filter(self.filter)
        except FilterError as exc:
            raise AudienceError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"filter": self.filter}
        if self.contact_ids:
            out["contact_ids"] = list(self.contact_ids)
        return out

    def describe(self) -> str:
        parts = []
        if self.filter:
            parts.append(self.filter)
        if self.contact_ids:
            n = len(self.contact_ids)
            parts.append(f"{n} hand-picked contact{'s' if n != 1 else ''}")
        return " plus ".join(parts) or "everyone in the directory"

    # --- evaluation -----------------------------------------------------------------------------
    def matching_condition(self, session: Session) -> ColumnElement[bool]:
        try:
            return audience_condition(
                self.filter, self.contact_ids, resolve_list=_resolver(session)
            )
        except FilterError as exc:
            raise AudienceError(str(exc)) from exc

    def query(self, session: Session) -> Select[Contact]:
        """The SELECT of sendable contacts in this audience, ordered by id."""
        return (
            select(Contact)
            .where(self.matching_condition(session), sendable_condition())
            .order_by(Contact.id)
        )

    def contacts(self, session: Session) -> list[Contact]:
        return list(session.scalars(self.query(session)))

    def count(self, session: Session) -> int:
        stmt = select(func.count(Contact.id)).where(
            self.matching_condition(session), sendable_condition()
        )
        return session.scalar(stmt) or 0

    def exclusions(self, session: Session) -> Exclusions:
        """Who matches but is left out, counted once each by the first reason in this order."""
        reason = case(
            (Contact.do_not_contact.is_(True), "do_not_contact"),
            (Contact.active.is_(False), "inactive"),
            (Contact.needs_review.is_(True), "needs_review"),
            (
                or_(
                    Contact.email.is_(None),
                    Contact.email == "",
                    Contact.email_status != EmailStatus.OK.value,
                ),
                "no_valid_address",
            ),
            else_="ok",
        )
        rows = session.execute(
            select(reason, func.count(Contact.id))
            .where(self.matching_condition(session))
            .group_by(reason)
        )
        counts = {str(r): int(n) for r, n in rows if r != "ok"}
        return Exclusions(**counts)


class SavedAudienceError(ValueError):
    """A saved audience that cannot be stored: `field` says which input is at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def save_audience(
    session: Session,
    saved: SavedAudience | None,
    *,
    name: str,
    filter_text: str,
    contact_ids: Sequence[int],
) -> SavedAudience:
    """Create (`saved` None) or change a saved audience; the filter must evaluate (lists it names
    included) and the name be unique whatever its case. The caller commits."""
    name = name.strip()
    if not name:
        raise SavedAudienceError("name", "an audience needs a name")
    audience = Audience(filter=filter_text.strip(), contact_ids=sorted(set(contact_ids)))
    try:
        audience.count(session)
    except AudienceError as exc:
        raise SavedAudienceError("filter", str(exc)) from exc
    duplicate = session.scalar(
        select(SavedAudience.id).where(
            func.lower(SavedAudience.name) == name.lower(),
            SavedAudience.id != (saved.id if saved else -1),
        )
    )
    if duplicate is not None:
        raise SavedAudienceError("name", f"there is already an audience called {name!r}")
    target = saved or SavedAudience()
    target.name, target.filter, target.contact_ids = name, audience.filter, audience.contact_ids
    session.add(target)
    session.flush()
    return target
