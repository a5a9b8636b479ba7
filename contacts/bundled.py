"""The bundled directory: the 10th-term MEPs and the EU institution leaders shipped with the code.

`load_bundled` upserts the two CSV files of ``contacts/data`` (see ``ATTRIBUTION.md`` there) into
the directory, so a fresh installation can write to officials before any import has run.

Matching: an MEP is the contact with the same EP id. An institution leader is matched by EP id when
the row has one, else by Wikidata id, else by display name and organisation. Every EP leader
(President, Vice-Presidents, Quaestors) is also an MEP, and a contact's EP id is unique, so a leader
row with the EP id of an MEP is merged into that MEP's record: the contact stays of kind "mep" (so
MEP audiences still reach them, and letters greet them by name) and takes the leader row's
organisation and position; its term start stays the start of the parliamentary mandate. The
other MEPs get the position "Member of the European Parliament", so a Vice-President who leaves
that office is reset by the next bundled file. Leaders who are not MEPs (Commission, European
Council) are of kind "institution_leader"; their names are not split into given and family names
(that would be a guess), so letters greet them by position.

What the file says wins on every load, so a field edited in the database is restored; but a blank
cell never erases a value already there (staff may have added the e-mail address a leader row
lacks), and the languages are only defaulted from the country when the contact has none (staff may
override them). The loader never touches ``active``, ``do_not_contact`` or ``notes``, and never
deactivates a contact missing from the files.

Memberships: ``AFET:Member;DROI:Substitute`` become committee seats, ``D-UK:Vice-Chair`` delegation
seats. Roles map by their words: any "vice" role (Vice-Chair, First Vice-Chair) is vice_chair, any
other "chair" role (Chair, Co-Chair, Chairperson) is chair, "substitute" is substitute, and anything
else (Member, or a role the EP adds later) is member, because a seat of any kind puts the MEP in the
body's audience. A contact's seats are changed only where they differ from the file's, so loading
the same file twice changes nothing. The loader never commits: the caller does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from contacts.countries import default_languages, normalise_country_code
from contacts.models import Contact, ContactKind, Membership, MembershipRole

MEPS_FILE = "meps_term10.csv"
LEADERS_FILE = "institution_leaders.csv"
MEP_SOURCE = "EP full list, 10th term (bundled)"
LEADER_SOURCE = "EU institution leaders (bundled)"
EUROPEAN_PARLIAMENT = "European Parliament"
MEP_POSITION = "Member of the European Parliament"

# The EP writes "NKN" (not known) where it records no gender; the directory stores nothing then.
_GENDERS = {"MALE": "MALE", "FEMALE": "FEMALE"}


@dataclass
class LoadReport:
    """What one load did, counted per contact (an EP leader merged into an MEP counts once)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Contacts of the files that have no e-mail address after the load, so cannot be written to.
    without_email: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        text = (
            f"Bundled directory: {self.total} contacts, {self.created} created, "
            f"{self.updated} updated, {self.unchanged} unchanged"
        )
        if self.without_email:
            text += f"; {self.without_email} without an e-mail address"
        return text


@dataclass(frozen=True)
class Seat:
    """One committee or delegation seat as the file gives it."""

    acronym: str
    body_kind: str
    role: str


@dataclass
class _Record:
    """The values one contact should have after the load, and how to find it."""

    fields: dict[str, Any]
    # None: the row says nothing about seats (institution leaders), so existing ones are kept.
    seats: list[Seat] | None = None
    name_key: tuple[str, str] | None = None


def parse_role(text: str) -> MembershipRole:
    """Map an EP role ("Vice-Chair", "Substitute", ...) onto a MembershipRole (see module doc)."""
    words = text.strip().lower().replace("_", "-")
    if "vice" in words:
        return MembershipRole.VICE_CHAIR
    if "chair" in words:
        return MembershipRole.CHAIR
    if "substitute" in words:
        return MembershipRole.SUBSTITUTE
    return MembershipRole.MEMBER


def parse_seats(text: str | None, body_kind: str) -> list[Seat]:
    """``"AFET:Member;DROI:Substitute"`` -> seats, in the file's order, without duplicates."""
    seats: list[Seat] = []
    for item in (text or "").split(";"):
        acronym, _, role = item.partition(":")
        acronym = acronym.strip()
        if not acronym:
            continue
        seat = Seat(acronym=acronym, body_kind=body_kind, role=parse_role(role).value)
        if seat not in seats:
            seats.append(seat)
    return seats


def _rows(filename: str) -> Iterator[dict[str, str]]:
    resource = resources.files("contacts") / "data" / filename
    for row in csv.DictReader(io.StringIO(resource.read_text(encoding="utf-8"))):
        yield {key: (value or "").strip() for key, value in row.items() if key}


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _mep_records() -> dict[str, _Record]:
    records: dict[str, _Record] = {}
    for row in _rows(MEPS_FILE):
        given, family = row["given_name"], row["family_name"]
        country = normalise_country_code(row["country_code"])
        fields: dict[str, Any] = {
            "kind": ContactKind.MEP.value,
            "ep_id": row["ep_id"],
            "given_name": given,
            "family_name": family,
            "display_name": f"{given} {family}".strip() or row["full_name"],
            "honorific": row["honorific"] or None,
            "gender": _GENDERS.get(row["gender"].upper()),
            "country_code": country,
            "organisation": EUROPEAN_PARLIAMENT,
            "position": MEP_POSITION,
            "political_group": row["political_group"] or None,
            "political_group_short": row["political_group_short"] or None,
            "national_party": row["national_party"] or None,
            # Exactly as published (two EP addresses are mixed case): addresses are never rewritten.
            "email": row["email"] or None,
            "source": MEP_SOURCE,
            "term_start": _date(row["term10_mandate_start"]),
        }
        seats = parse_seats(row["committees"], "committee") + parse_seats(
            row["delegations"], "delegation"
        )
        records[row["ep_id"]] = _Record(fields=fields, seats=seats)
    return records


def _leader_records(meps: dict[str, _Record]) -> list[_Record]:
    """Leaders who are not MEPs; an MEP leader's office is written into `meps` instead."""
    leaders: list[_Record] = []
    for row in _rows(LEADERS_FILE):
        ep_id = row.get("ep_id", "")
        if ep_id in meps:
            mep = meps[ep_id].fields
            mep["organisation"] = row["institution"] or mep["organisation"]
            mep["position"] = row["position"] or mep["position"]
            mep["email"] = mep["email"] or row["email"] or None
            continue
        name = row["name"]
        fields: dict[str, Any] = {
            "kind": ContactKind.INSTITUTION_LEADER.value,
            "display_name": name,
            "organisation": row["institution"] or None,
            "position": row["position"] or None,
            "email": row["email"] or None,
            "ep_id": ep_id or None,
            "wikidata_id": row.get("wikidata_id") or None,
            "source": LEADER_SOURCE,
            "term_start": _date(row["since"]),
        }
        leaders.append(_Record(fields=fields, name_key=(name, row["institution"])))
    return leaders


def _apply(contact: Contact, fields: dict[str, Any]) -> bool:
    """Set the fields that differ; a blank value never erases one already there."""
    changed = False
    for name, value in fields.items():
        if value is None or value == "":
            continue
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed = True
    if not contact.languages:
        contact.languages = default_languages(contact.country_code)
        changed = True
    return changed


def _sync_seats(contact: Contact, seats: list[Seat] | None) -> bool:
    """Make the contact's memberships those of the file, touching only the ones that differ."""
    if seats is None:
        return False
    wanted = {(seat.acronym, seat.role): seat for seat in seats}
    changed = False
    for membership in list(contact.memberships):
        seat = wanted.pop((membership.acronym, membership.role), None)
        if seat is None:
            contact.memberships.remove(membership)
            changed = True
        elif membership.body_kind != seat.body_kind:
            membership.body_kind = seat.body_kind
            changed = True
    for seat in wanted.values():
        contact.memberships.append(
            Membership(acronym=seat.acronym, body_kind=seat.body_kind, role=seat.role)
        )
        changed = True
    return changed


def load_bundled(session: Session) -> LoadReport:
    """Upsert the bundled MEPs and institution leaders into the directory; the caller commits."""
    meps = _mep_records()
    leaders = _leader_records(meps)
    records = [*meps.values(), *leaders]

    # Three queries in all, whatever the number of rows: contacts by EP id (with their seats), then
    # the few leaders by Wikidata id or by name.
    by_ep_id: dict[str, Contact] = {
        existing.ep_id: existing
        for existing in session.scalars(
            select(Contact)
            .where(Contact.ep_id.is_not(None))
            .options(selectinload(Contact.memberships))
        )
        if existing.ep_id
    }
    wikidata_ids = [r.fields["wikidata_id"] for r in leaders if r.fields.get("wikidata_id")]
    names = [r.name_key[0] for r in leaders if r.name_key]
    by_wikidata: dict[str, Contact] = {}
    by_name: dict[tuple[str, str | None], Contact] = {}
    if leaders:
        for existing in session.scalars(
            select(Contact).where(
                or_(Contact.wikidata_id.in_(wikidata_ids), Contact.display_name.in_(names))
            )
        ):
            if existing.wikidata_id:
                by_wikidata[existing.wikidata_id] = existing
            by_name.setdefault((existing.display_name, existing.organisation), existing)

    report = LoadReport()
    for record in records:
        fields = record.fields
        contact: Contact | None = None
        if fields.get("ep_id"):
            contact = by_ep_id.get(fields["ep_id"])
        if contact is None and record.name_key is not None:
            if fields.get("wikidata_id"):
                contact = by_wikidata.get(fields["wikidata_id"])
            if contact is None:
                contact = by_name.get(record.name_key)

        if contact is None:
            contact = Contact(
                **{name: value for name, value in fields.items() if value is not None},
                languages=default_languages(fields.get("country_code")),
                memberships=[
                    Membership(acronym=seat.acronym, body_kind=seat.body_kind, role=seat.role)
                    for seat in record.seats or ()
                ],
            )
            session.add(contact)
            report.created += 1
        else:
            changed = _apply(contact, fields)
            changed = _sync_seats(contact, record.seats) or changed
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1
        if not contact.email:
            report.without_email += 1
    return report
