"""Audiences: which officials a campaign writes to, as a saved filter evaluated against the directory.

An audience is a small JSON-able spec. Values within one field are alternatives (any of these
countries); fields combine with AND; `bodies` matches membership of any listed committee or
delegation; `exclude_groups` removes political groups at the end. So "AFET and DROI members plus the
China delegation, minus group X" is ``{"bodies": ["AFET", "DROI", "D-CN"], "exclude_groups": ["X"]}``.
Only contacts that can be written to (active, with an address, not do-not-contact) are ever selected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from contacts.models import Contact, ContactKind, Membership


class AudienceError(ValueError):
    """The audience spec names something that does not exist or has the wrong shape."""


def _clean(values: Sequence[str] | None, *, upper: bool = True) -> list[str]:
    out: list[str] = []
    for value in values or ():
        text = str(value).strip()
        if text:
            out.append(text.upper() if upper else text)
    return sorted(set(out))


@dataclass(frozen=True)
class Audience:
    kinds: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    exclude_groups: list[str] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Audience:
        data = dict(data or {})
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise AudienceError(f"unknown audience field(s): {', '.join(sorted(unknown))}")
        kinds = _clean(data.get("kinds"), upper=False)
        valid_kinds = {k.value for k in ContactKind}
        bad = [k for k in kinds if k not in valid_kinds]
        if bad:
            raise AudienceError(
                f"unknown contact kind(s): {', '.join(bad)}; expected {', '.join(sorted(valid_kinds))}"
            )
        try:
            ids = sorted({int(i) for i in data.get("contact_ids") or ()})
        except (TypeError, ValueError) as exc:
            raise AudienceError("contact_ids must be whole numbers") from exc
        return cls(
            kinds=kinds,
            countries=_clean(data.get("countries")),
            groups=_clean(data.get("groups")),
            bodies=_clean(data.get("bodies")),
            exclude_groups=_clean(data.get("exclude_groups")),
            contact_ids=ids,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}

    def is_empty_spec(self) -> bool:
        return not any(asdict(self).values())

    def describe(self) -> str:
        parts: list[str] = []
        if self.kinds:
            parts.append("kind " + " or ".join(self.kinds))
        if self.countries:
            parts.append("country " + ", ".join(self.countries))
        if self.groups:
            parts.append("group " + ", ".join(self.groups))
        if self.bodies:
            parts.append("member of " + ", ".join(self.bodies))
        if self.contact_ids:
            parts.append(f"{len(self.contact_ids)} chosen contacts")
        text = "; ".join(parts) or "everyone in the directory"
        if self.exclude_groups:
            text += " — minus group " + ", ".join(self.exclude_groups)
        return text

    def query(self) -> Select[Contact]:
        """The SELECT of sendable contacts in this audience, ordered by id."""
        stmt = select(Contact).where(
            Contact.active.is_(True),
            Contact.do_not_contact.is_(False),
            Contact.email.is_not(None),
            Contact.email != "",
        )
        if self.kinds:
            stmt = stmt.where(Contact.kind.in_(self.kinds))
        if self.countries:
            stmt = stmt.where(Contact.country_code.in_(self.countries))
        if self.groups:
            stmt = stmt.where(func.upper(Contact.political_group_short).in_(self.groups))
        if self.bodies:
            members = select(Membership.contact_id).where(
                func.upper(Membership.acronym).in_(self.bodies)
            )
            stmt = stmt.where(Contact.id.in_(members))
        if self.contact_ids:
            stmt = stmt.where(Contact.id.in_(self.contact_ids))
        if self.exclude_groups:
            stmt = stmt.where(
                Contact.political_group_short.is_(None)
                | func.upper(Contact.political_group_short).not_in(self.exclude_groups)
            )
        return stmt.order_by(Contact.id)

    def contacts(self, session: Session) -> list[Contact]:
        return list(session.scalars(self.query()))

    def count(self, session: Session) -> int:
        return (
            session.scalar(select(func.count()).select_from(self.query().order_by(None).subquery()))
            or 0
        )
