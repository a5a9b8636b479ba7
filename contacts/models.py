"""Officials and their committee and delegation memberships.

A contact is never deleted by an import: an official who leaves office becomes inactive with an end
date, so the deliveries and replies that point at them keep their meaning.
"""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contacts.base import Base, TimestampMixin


class ContactKind(enum.StrEnum):
    MEP = "mep"
    MINISTER = "minister"
    INSTITUTION_LEADER = "institution_leader"
    OTHER = "other"


class MembershipRole(enum.StrEnum):
    CHAIR = "chair"
    VICE_CHAIR = "vice_chair"
    MEMBER = "member"
    SUBSTITUTE = "substitute"


class Contact(TimestampMixin, Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default=ContactKind.OTHER.value, index=True)
    honorific: Mapped[str | None] = mapped_column(String(32))
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    display_name: Mapped[str] = mapped_column(String(400))
    gender: Mapped[str | None] = mapped_column(String(16))
    country_code: Mapped[str | None] = mapped_column(String(2), index=True)
    # Official languages of the country unless staff set them; ISO 639-1 codes, most preferred first.
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    organisation: Mapped[str | None] = mapped_column(String(300))
    position: Mapped[str | None] = mapped_column(String(300))
    political_group: Mapped[str | None] = mapped_column(String(300))
    political_group_short: Mapped[str | None] = mapped_column(String(32), index=True)
    national_party: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    ep_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    wikidata_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    source: Mapped[str | None] = mapped_column(String(200))
    term_start: Mapped[date | None]
    term_end: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True, index=True)
    do_not_contact: Mapped[bool] = mapped_column(default=False)
    do_not_contact_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="Membership.acronym"
    )

    @property
    def sendable(self) -> bool:
        """Whether a letter may be addressed to this contact at all."""
        return bool(self.email) and self.active and not self.do_not_contact

    def __repr__(self) -> str:
        return f"<Contact {self.id} {self.display_name!r}>"


class Membership(Base):
    """A seat on an EP committee (AFET) or interparliamentary delegation (D-CN)."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint(
            "contact_id", "acronym", "role", name="uq_memberships_contact_acronym_role"
        ),
        Index("ix_memberships_acronym_role", "acronym", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    acronym: Mapped[str] = mapped_column(String(32))
    # "committee" or "delegation"
    body_kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16), default=MembershipRole.MEMBER.value)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]

    contact: Mapped[Contact] = relationship(back_populates="memberships")
