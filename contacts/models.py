"""Officials and their committee and delegation memberships.

A contact is never deleted by an import: an official who leaves office becomes inactive with an end
date, so the deliveries and replies that point at them keep their meaning.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from contacts.base import Base, TimestampMixin, utcnow


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


class EmailStatus(enum.StrEnum):
    OK = "ok"
    BOUNCING = "bouncing"
    INVALID = "invalid"


class Contact(TimestampMixin, Base):
    __tablename__ = "contacts"
    # The directory list is ordered by name: this index serves its pages without a sort.
    __table_args__ = (Index("ix_contacts_name_order", "family_name", "given_name", "id"),)

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
    # The primary address (what letters go to) and its status; alternates are ContactEmail rows.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    email_status: Mapped[str] = mapped_column(String(16), default=EmailStatus.OK.value)
    # Soft bounces of the primary address, scored as Mailman does (outreach.tracking.effects):
    # at most one point a day, forgotten after some quiet days, `bouncing` at a threshold.
    bounce_score: Mapped[float] = mapped_column(Float, default=0.0)
    last_bounce_at: Mapped[datetime | None]
    # [{"place": "Brussels", "address": "ASP 06F164", "phone": "+32 2 28 45975"}, ...]
    offices: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    ep_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    wikidata_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    source: Mapped[str | None] = mapped_column(String(200))
    last_import_at: Mapped[datetime | None]
    term_start: Mapped[date | None]
    term_end: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True, index=True)
    do_not_contact: Mapped[bool] = mapped_column(default=False)
    do_not_contact_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    # Set for records that must be checked before anyone writes to them (e.g. dated sources).
    needs_review: Mapped[bool] = mapped_column(default=False)
    review_reason: Mapped[str | None] = mapped_column(Text)
    # Per-language forms of address that win over the rules: {"fr": "Madame la Présidente,"}.
    salutation_overrides: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    address_line_overrides: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="Membership.acronym"
    )

    alternate_emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactEmail.id"
    )
    tag_rows: Mapped[list[ContactTag]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]

    @property
    def sendable(self) -> bool:
        """Whether a letter may be addressed to this contact at all."""
        return (
            bool(self.email)
            and self.email_status == EmailStatus.OK
            and self.active
            and not self.do_not_contact
        )

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
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    acronym: Mapped[str] = mapped_column(String(32))
    # "committee" or "delegation"
    body_kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16), default=MembershipRole.MEMBER.value)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]

    contact: Mapped[Contact] = relationship(back_populates="memberships")


class ContactEmail(Base):
    """An alternate address of a contact (the primary one is Contact.email), with its status."""

    __tablename__ = "contact_emails"
    __table_args__ = (
        UniqueConstraint("contact_id", "address", name="uq_contact_emails_contact_address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(16), default=EmailStatus.OK.value)

    contact: Mapped[Contact] = relationship(back_populates="alternate_emails")


class ContactTag(Base):
    """A free tag staff put on a contact ("china-hearing-2026", "ally")."""

    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

    contact: Mapped[Contact] = relationship(back_populates="tag_rows")


class ImportRun(Base):
    """One applied import (dry runs are not recorded): where from, by whom, what it did."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(32))  # ep_xml, ep_api, csv, xlsx, bundled
    filename: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # {"created": n, "updated": n, "unchanged": n, "left_office": n, "rejected": n}
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)


class ContactChange(Base):
    """One field of one contact changed by an import or an edit: the contact's history."""

    __tablename__ = "contact_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    import_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_runs.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)


class ImportMapping(TimestampMixin, Base):
    """A saved column mapping for generic CSV/XLSX imports: {"Nom": "family_name", ...}."""

    __tablename__ = "import_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    mapping: Mapped[dict[str, str | None]] = mapped_column(JSON, default=dict)


class SavedAudience(TimestampMixin, Base):
    """A named audience: a filter expression, optionally with hand-picked contacts (a static list)."""

    __tablename__ = "saved_audiences"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    filter: Mapped[str] = mapped_column(Text, default="")
    contact_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
