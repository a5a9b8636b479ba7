"""The bundled directory: the 10th-term MEPs, the EU institution leaders and the EU foreign ministers
of December 2022, shipped with the code.

`load_bundled` imports the three CSV files of ``contacts/data`` (see ``ATTRIBUTION.md`` there)
through the import engine (contacts.importing), so a fresh installation can write to officials
before any import has run, and each load is recorded like any import: one `ImportRun` per file and
a `ContactChange` for every field it changed.

Matching is the engine's: an MEP is the contact with the same EP id; an institution leader the one
with the same EP id, else Wikidata id, else (having no address) the same display name and
organisation; a minister the one with the same Wikidata id, or name. Every EP leader (President,
Vice-Presidents, Quaestors) is also an MEP, and a contact's EP id is unique, so a leader row with
the EP id of an MEP is merged into that MEP's record before the import: the contact stays of kind
"mep" (so MEP audiences still reach them, and letters greet them by name) and takes the leader
row's organisation and position; its term start stays the start of the parliamentary mandate. The
other MEPs get the position "Member of the European Parliament", so a Vice-President who leaves that
office is reset by the next bundled file. Leaders who are not MEPs (Commission, European Council)
are of kind "institution_leader", and ministers of kind "minister"; their names are not split into
given and family names (that would be a guess), so letters greet them by position.

MEPs and leaders: what the file says wins on every load, so a field edited in the database is
restored; but a blank cell never erases a value already there (staff may have added the e-mail
address a leader row lacks), and the languages are only defaulted from the country when the contact
has none (staff may override them). The loader never touches ``active``, ``do_not_contact`` or
``notes``, and never deactivates a contact missing from the files. An MEP's other addresses
(``emails_all``) become alternate addresses, which imports and replies are matched by.

Ministers: the file is dated (Wikidata, December 2022) and has no addresses, so each minister is
created once, flagged ``needs_review``, and from then on belongs to staff: a re-load never
overwrites a minister already in the directory (staff replace the person, add the address and clear
the flag). Until an address is added, a minister cannot be written to.

Memberships: ``AFET:Member;DROI:Substitute`` become committee seats, ``D-UK:Vice-Chair`` delegation
seats. Roles map by their words: any "vice" role (Vice-Chair, First Vice-Chair) is vice_chair, any
other "chair" role (Chair, Co-Chair, Chairperson) is chair, "substitute" is substitute, and anything
else (Member, or a role the EP adds later) is member, because a seat of any kind puts the MEP in the
body's audience. A contact's seats are changed only where they differ from the file's, so loading
the same files twice changes nothing. The loader never commits: the caller does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import resources

from sqlalchemy.orm import Session

from contacts.importing import BUNDLED_MEP_SOURCE, ImportPlan, apply_plan, plan_import
from contacts.models import ContactKind, MembershipRole
from contacts.records import ContactRecord, ParsedFile, SeatRecord

MEPS_FILE = "meps_term10.csv"
LEADERS_FILE = "institution_leaders.csv"
MINISTERS_FILE = "eu27_foreign_ministers_2022.csv"
MEP_SOURCE = BUNDLED_MEP_SOURCE
LEADER_SOURCE = "EU institution leaders (bundled)"
MINISTER_SOURCE = "EU foreign ministers, December 2022 (Wikidata, bundled)"
MINISTER_REVIEW_REASON = (
    "2022 data (Wikidata, December 2022): verify the minister and add an address before sending"
)
EUROPEAN_PARLIAMENT = "European Parliament"
MEP_POSITION = "Member of the European Parliament"
SOURCE_KIND = "bundled"
ACTOR = "bundled directory"

# The EP writes "NKN" (not known) where it records no gender; the directory stores nothing then.
_GENDERS = {"MALE": "MALE", "FEMALE": "FEMALE"}


class BundledDataError(RuntimeError):
    """A bundled file has a row the import engine rejects: a defect of the shipped data."""


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

    def add(self, plan: ImportPlan) -> None:
        self.created += len(plan.new)
        self.updated += len(plan.changed)
        self.unchanged += plan.unchanged
        self.without_email += plan.without_email

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


def _rows(filename: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) pairs; the header is line 1."""
    resource = resources.files("contacts") / "data" / filename
    reader = csv.DictReader(io.StringIO(resource.read_text(encoding="utf-8")))
    for row in reader:
        yield reader.line_num, {key: (value or "").strip() for key, value in row.items() if key}


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _emails(*texts: str) -> list[str] | None:
    """The addresses of the cells, in order, once each (the engine compares them without case)."""
    addresses: list[str] = []
    for text in texts:
        for address in text.split(";"):
            address = address.strip()
            if address and address.casefold() not in {a.casefold() for a in addresses}:
                addresses.append(address)
    return addresses or None


def _seat_records(text: str, body_kind: str) -> list[SeatRecord]:
    return [
        SeatRecord(acronym=seat.acronym, body_kind=seat.body_kind, role=seat.role)
        for seat in parse_seats(text, body_kind)
    ]


def mep_records() -> dict[str, ContactRecord]:
    """The MEPs of the bundled file, by EP id (before the EP leaders are merged in)."""
    records: dict[str, ContactRecord] = {}
    for line, row in _rows(MEPS_FILE):
        given, family = row["given_name"], row["family_name"]
        records[row["ep_id"]] = ContactRecord(
            line=line,
            source_ref=MEPS_FILE,
            kind=ContactKind.MEP.value,
            ep_id=row["ep_id"],
            given_name=given,
            family_name=family,
            display_name=f"{given} {family}".strip() or row["full_name"],
            honorific=row["honorific"] or None,
            gender=_GENDERS.get(row["gender"].upper()),
            country_code=row["country_code"],
            organisation=EUROPEAN_PARLIAMENT,
            position=MEP_POSITION,
            political_group=row["political_group"] or None,
            political_group_short=row["political_group_short"] or None,
            national_party=row["national_party"] or None,
            # Exactly as published (two EP addresses are mixed case): addresses are never rewritten.
            emails=_emails(row["email"], row["emails_all"]),
            term_start=_date(row["term10_mandate_start"]),
            memberships=_seat_records(row["committees"], "committee")
            + _seat_records(row["delegations"], "delegation"),
        )
    return records


def leader_records(meps: dict[str, ContactRecord]) -> list[ContactRecord]:
    """Leaders who are not MEPs; an MEP leader's office is written into `meps` instead."""
    leaders: list[ContactRecord] = []
    for line, row in _rows(LEADERS_FILE):
        ep_id = row.get("ep_id", "")
        if ep_id in meps:
            mep = meps[ep_id]
            mep.organisation = row["institution"] or mep.organisation
            mep.position = row["position"] or mep.position
            mep.emails = mep.emails or _emails(row["email"])
            continue
        leaders.append(
            ContactRecord(
                line=line,
                source_ref=LEADERS_FILE,
                kind=ContactKind.INSTITUTION_LEADER.value,
                display_name=row["name"],
                organisation=row["institution"] or None,
                position=row["position"] or None,
                emails=_emails(row["email"]),
                ep_id=ep_id or None,
                wikidata_id=row.get("wikidata_id") or None,
                term_start=_date(row["since"]),
            )
        )
    return leaders


def minister_records() -> list[ContactRecord]:
    """The 27 foreign ministers of December 2022: no addresses, flagged for review."""
    return [
        ContactRecord(
            line=line,
            source_ref=MINISTERS_FILE,
            kind=ContactKind.MINISTER.value,
            display_name=row["minister_name"],
            position=row["position_title"] or None,
            # The file names no ministry; the organisation stays empty rather than guessed.
            organisation=row.get("ministry") or None,
            country_code=row["country_code"],
            wikidata_id=row["wikidata_person"] or None,
            term_start=_date(row["start_date_wikidata"]),
            needs_review=True,
            review_reason=MINISTER_REVIEW_REASON,
        )
        for line, row in _rows(MINISTERS_FILE)
    ]


def bundled_files() -> list[tuple[ParsedFile, str, bool]]:
    """(parsed file, Contact.source, whether existing contacts are updated) for each bundled file."""
    meps = mep_records()
    leaders = leader_records(meps)  # merges the EP leaders into `meps` first
    return [
        (
            ParsedFile(
                SOURCE_KIND,
                f"{MEPS_FILE} (with the EP leaders of {LEADERS_FILE})",
                [*meps.values()],
            ),
            MEP_SOURCE,
            True,
        ),
        (ParsedFile(SOURCE_KIND, LEADERS_FILE, leaders), LEADER_SOURCE, True),
        (ParsedFile(SOURCE_KIND, MINISTERS_FILE, minister_records()), MINISTER_SOURCE, False),
    ]


def load_bundled(session: Session, *, actor: str = ACTOR) -> LoadReport:
    """Import the bundled MEPs, institution leaders and ministers; the caller commits.

    Raises BundledDataError, before writing anything of that file, if the engine rejects a row.
    """
    report = LoadReport()
    for parsed, source, update_existing in bundled_files():
        plan = plan_import(session, parsed, source=source, update_existing=update_existing)
        if plan.errors:
            problems = "; ".join(str(error) for error in plan.errors[:5])
            raise BundledDataError(f"{parsed.filename}: {problems}")
        apply_plan(session, plan, actor=actor)
        report.add(plan)
    return report
