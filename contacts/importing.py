"""The import engine: compare a parsed file with the directory, show the plan, apply it.

`plan_import` reads what the directory holds in a handful of queries (never one per row), checks
every record, matches it to a contact and lists, field by field, what would change. It writes
nothing: the plan is the dry run that the CLI and the admin upload page show. `apply_plan` writes the
plan with bulk statements in the caller's transaction (it only flushes; the caller commits, or rolls
back and nothing happened), records one `ImportRun`, and one `ContactChange` per changed field.

Rules, in the order they apply:

- **Rejected rows.** A record with no name, an address email-validator refuses, a country that
  `normalise_country_code` does not know, an unknown kind or seat role, or a value longer than its
  column, is rejected with its line; so is a second record with the same EP id, Wikidata id or
  primary address as an earlier one (the first wins), and a record whose ids belong to two different
  contacts. Every other record imports.
- **Matching.** By EP id, then Wikidata id, then any of the record's addresses against every
  primary and alternate address (case-insensitive), else the record is new. A record with no
  address at all is also matched by display name and organisation (case-insensitive), so that a
  file of officials without addresses (the bundled leaders, a CSV of ministers) can be imported
  twice without doubling them; a name shared by several contacts is rejected as ambiguous.
- **What changes.** Only what the record sets: `None` means the file says nothing, and a blank
  value (None, blanks, an empty list) never erases one. Otherwise the file wins, field by field,
  and `Contact.source` stays the source that created the contact. Addresses and display names
  compare without case (the EP's list writes uncertain family names in capitals), so neither is
  rewritten for its case alone; a new primary address starts with status ok, and the primary
  address it replaces is kept as an alternate, with its status. Alternate addresses and tags from
  the file are added, never removed. Seats compare as sets of (acronym, role): a record with a
  seat list (even an empty one) states all of the contact's seats, and only the seats that differ
  are removed or added. A contact with no languages gets the official languages of its country.
- **Where.** A plan entry and a row error name the record's line, or, for records without one
  (EP API archives), the file the record came from (`ContactRecord.source_ref`).
- **Left office.** When the file is the complete list of some kind of official
  (`ParsedFile.complete_list_of`), the active contacts of that kind that came from the same list
  (see `same_list_sources`) and are missing from the file become inactive with `term_end` = today.
  Nobody is deleted; contacts staff made by hand or that came from other sources are never touched.
  A contact of that kind who is in the file but inactive is back in office.
- **Unchanged.** A record that would change nothing writes nothing, so importing the same file
  twice changes nothing the second time (the second `ImportRun` counts every record unchanged).

Cell values are stored as given (stripped of surrounding blanks); a value beginning with =, +, -
or @ stays text. Only the single quote that `contacts.export.neutralise` puts before such a value is
taken off again for CSV and XLSX files, so that an export imports back unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple, cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Table, Text, delete, func, insert, select, text, update
from sqlalchemy import cast as cast_sql
from sqlalchemy.orm import Session

from contacts.base import Base, utcnow
from contacts.countries import default_languages, normalise_country_code
from contacts.export import restore
from contacts.models import (
    Contact,
    ContactChange,
    ContactEmail,
    ContactKind,
    ContactTag,
    EmailStatus,
    ImportRun,
    Membership,
    MembershipRole,
)
from contacts.records import ContactRecord, ParsedFile, RowError, SeatRecord

# The reasons a record is rejected (RowError.reason); the admin page and the CLI show them as is.
NO_NAME = "no name"
INVALID_ADDRESS = "invalid address"
UNKNOWN_COUNTRY = "unknown country"
DUPLICATE_ID = "duplicate id"
DUPLICATE_ADDRESS = "duplicate address"
DUPLICATE_CONTACT = "duplicate contact"
UNKNOWN_KIND = "unknown kind"
UNKNOWN_ROLE = "unknown seat"
TOO_LONG = "value too long"
CONFLICTING_IDS = "conflicting ids"
AMBIGUOUS_NAME = "ambiguous name"

# Contact columns a record can set, in the order diffs list them.
TEXT_FIELDS = (
    "kind",
    "honorific",
    "given_name",
    "family_name",
    "display_name",
    "gender",
    "country_code",
    "organisation",
    "position",
    "political_group",
    "political_group_short",
    "national_party",
    "email",
    "ep_id",
    "wikidata_id",
    "notes",
    "review_reason",
)
OTHER_FIELDS = ("languages", "offices", "term_start", "term_end", "needs_review")
_FIELD_ORDER = {name: index for index, name in enumerate((*TEXT_FIELDS, *OTHER_FIELDS))}
# Derived changes and the related rows, as named in FieldChange.field and ContactChange.field.
EMAIL_STATUS = "email_status"
ACTIVE = "active"
ALTERNATE_EMAILS = "alternate_emails"
MEMBERSHIPS = "memberships"
TAGS = "tags"
CREATED = "created"

# The EP's own lists of MEPs: the full-list XML, the Open Data API and the bundled copy of the
# 10th-term full list. A complete list from any of them speaks for the MEPs the others created.
BUNDLED_MEP_SOURCE = "EP full list, 10th term (bundled)"
_SAME_LIST = {
    "ep_xml": frozenset({"ep_xml", "ep_api", BUNDLED_MEP_SOURCE}),
    "ep_api": frozenset({"ep_xml", "ep_api", BUNDLED_MEP_SOURCE}),
}
# Files whose cells may carry the quote that contacts.export puts before a formula-like value.
_SPREADSHEET_SOURCES = frozenset({"csv", "xlsx"})
_KINDS = frozenset(kind.value for kind in ContactKind)
_ROLES = frozenset(role.value for role in MembershipRole)
_BODY_KINDS = frozenset({"committee", "delegation"})
_LANGUAGES_JSON = "languages_json"
# Always read: what matching, the left-office sweep and the defaults need.
_LOAD_COLUMNS = (
    "id",
    "kind",
    "display_name",
    "organisation",
    "country_code",
    "email",
    "email_status",
    "ep_id",
    "wikidata_id",
    "source",
    "active",
    "term_end",
)

Progress = Callable[[int, int], None]


def same_list_sources(source: str) -> frozenset[str]:
    """The `Contact.source` values a complete list from `source` speaks for (itself at least)."""
    return _SAME_LIST.get(source, frozenset({source}))


def as_text(value: Any) -> str | None:
    """A field value as ContactChange stores it and the dry run shows it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            return "; ".join(value)
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


class FieldChange(NamedTuple):
    """One field of one contact, before and after (None: empty). Seats, alternate addresses and
    tags are sorted lists of text ("AFET:member")."""

    field: str
    old: Any
    new: Any

    @property
    def old_text(self) -> str | None:
        return as_text(self.old)

    @property
    def new_text(self) -> str | None:
        return as_text(self.new)


@dataclass
class PlannedContact:
    """What the import does to one contact: create it, change it, or mark it as out of office."""

    line: int | str | None  # of the record in the file; None for a contact that left office
    display_name: str
    contact_id: int | None = None  # None: a new contact
    # For a new contact: every column it gets. For a changed one: the columns that change.
    values: dict[str, Any] = field(default_factory=dict)
    changes: list[FieldChange] = field(default_factory=list)
    add_seats: list[SeatRecord] = field(default_factory=list)
    remove_seat_ids: list[int] = field(default_factory=list)
    add_alternates: list[tuple[str, str]] = field(default_factory=list)  # (address, status)
    remove_alternate_ids: list[int] = field(default_factory=list)
    add_tags: list[str] = field(default_factory=list)

    @property
    def email(self) -> str | None:
        return self.values.get("email")


@dataclass
class ImportPlan:
    """The dry run: what applying the parsed file would do. Nothing is written until `apply_plan`."""

    source_kind: str
    filename: str | None
    source: str  # what new contacts get as Contact.source
    complete_list_of: str | None
    today: date
    new: list[PlannedContact] = field(default_factory=list)
    changed: list[PlannedContact] = field(default_factory=list)
    unchanged: int = 0
    left_office: list[PlannedContact] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # Records that will have no address after the import, so cannot be written to.
    without_email: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """As stored in ImportRun.counts."""
        return {
            "created": len(self.new),
            "updated": len(self.changed),
            "unchanged": self.unchanged,
            "left_office": len(self.left_office),
            "rejected": len(self.errors),
        }

    @property
    def has_changes(self) -> bool:
        return bool(self.new or self.changed or self.left_office)

    @property
    def digest(self) -> str:
        """A short fingerprint of what the plan would write: a page that shows a dry run and
        applies a fresh plan on confirmation can check that it applies what was shown."""
        hasher = hashlib.sha256(repr(sorted(self.counts.items())).encode())
        for part in (self.new, self.changed, self.left_office):
            for planned in part:
                hasher.update(
                    repr(
                        (
                            # A new contact's id is only known once applied.
                            None if part is self.new else planned.contact_id,
                            planned.line,
                            planned.changes,
                            sorted(planned.values.items(), key=str),
                            planned.add_seats,
                            planned.add_alternates,
                            planned.add_tags,
                        )
                    ).encode()
                )
            hasher.update(b"|")
        return hasher.hexdigest()[:16]


@dataclass
class _Candidate:
    """A checked record: the column values it sets and its related rows."""

    line: int | str | None
    values: dict[str, Any]
    display_name: str
    addresses: list[str]  # primary first; case kept
    seats: list[SeatRecord] | None
    tags: list[str]


class _Rejected(Exception):
    def __init__(self, reason: str, value: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value


# --- checking one record -------------------------------------------------------------------------
# The local part of nearly every real address; such an address is valid exactly when its domain
# is, and checking each domain once keeps 100,000 rows fast. Anything else gets the full check.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=4096)
def _domain_is_valid(domain: str) -> bool:
    try:
        validate_email(f"postmaster@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def address_is_valid(address: str) -> bool:
    """Whether email-validator (without DNS) accepts the address."""
    local, at, domain = address.rpartition("@")
    if at and len(local) <= 64 and len(address) <= 254 and _PLAIN_LOCAL.fullmatch(local):
        return _domain_is_valid(domain)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _column_lengths() -> dict[str, int]:
    lengths: dict[str, int] = {}
    for column in Contact.__table__.columns:
        length = getattr(column.type, "length", None)
        if isinstance(length, int):
            lengths[column.name] = length
    return lengths


_LENGTHS = _column_lengths()
# The text fields copied as they are (kind, country and address are checked on their own).
_PLAIN_TEXT = tuple(
    (name, _LENGTHS.get(name, 1_000_000))
    for name in TEXT_FIELDS
    if name not in ("email", "country_code", "kind")
)
_ADDRESS_LENGTH = 320
_TAG_LENGTH = 64
_ACRONYM_LENGTH = 32


def _clean(value: Any, *, unquote: bool) -> str | None:
    """A stripped text value, or None when blank."""
    if value is None:
        return None
    text = (value if isinstance(value, str) else str(value)).strip()
    if not text:
        return None
    return restore(text) if unquote and text[0] == "'" else text


def _clean_list(values: Iterable[Any] | None, *, unquote: bool, fold: bool = True) -> list[str]:
    """Stripped, non-blank values in order, without repeats (compared without case)."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values or ():
        text = _clean(value, unquote=unquote)
        if text is None:
            continue
        key = text.casefold() if fold else text
        if key not in seen:
            seen.add(key)
            out.append(text)
    return out


def _check_length(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise _Rejected(TOO_LONG, f"{name}: {len(value)} characters, at most {limit}")


def _candidate(record: ContactRecord, *, unquote: bool) -> _Candidate:
    """Check one record and collect what it sets; raises _Rejected."""
    values: dict[str, Any] = {}
    given = vars(record)
    for name, limit in _PLAIN_TEXT:
        text = _clean(given[name], unquote=unquote)
        if text is not None:
            if len(text) > limit:
                _check_length(name, text, limit)
            values[name] = text

    display_name = values.get("display_name") or " ".join(
        part for part in (values.get("given_name"), values.get("family_name")) if part
    )
    if not display_name:
        raise _Rejected(NO_NAME)

    kind = _clean(record.kind, unquote=unquote)
    if kind is not None:
        if kind.lower() not in _KINDS:
            raise _Rejected(UNKNOWN_KIND, kind)
        values["kind"] = kind.lower()

    country = _clean(record.country_code, unquote=unquote)
    if country is not None:
        code = normalise_country_code(country)
        if code is None:
            raise _Rejected(UNKNOWN_COUNTRY, country)
        values["country_code"] = code

    addresses = _clean_list(record.emails, unquote=unquote)
    for address in addresses:
        if len(address) > _ADDRESS_LENGTH or not address_is_valid(address):
            raise _Rejected(INVALID_ADDRESS, address)
    if addresses:
        values["email"] = addresses[0]

    languages = [lang.lower() for lang in _clean_list(record.languages, unquote=unquote)]
    if languages:
        values["languages"] = languages
    if record.offices:
        values["offices"] = [dict(office) for office in record.offices]
    for name in ("term_start", "term_end"):
        if getattr(record, name) is not None:
            values[name] = getattr(record, name)
    if record.needs_review is not None:
        values["needs_review"] = bool(record.needs_review)

    _check_length("display_name", display_name, _LENGTHS["display_name"])

    seats: list[SeatRecord] | None = None
    if record.memberships is not None:
        seats = []
        keys: set[tuple[str, str]] = set()
        for seat in record.memberships:
            acronym = seat.acronym.strip()
            role = seat.role.strip().lower()
            body_kind = seat.body_kind.strip().lower()
            if not acronym or role not in _ROLES or body_kind not in _BODY_KINDS:
                raise _Rejected(UNKNOWN_ROLE, f"{seat.acronym}:{seat.role} ({seat.body_kind})")
            _check_length("seat", acronym, _ACRONYM_LENGTH)
            if (acronym, role) not in keys:
                keys.add((acronym, role))
                seats.append(SeatRecord(acronym, body_kind, role, seat.start_date, seat.end_date))

    tags = _clean_list(record.tags, unquote=unquote)
    for tag in tags:
        _check_length("tag", tag, _TAG_LENGTH)

    return _Candidate(
        line=_where(record),
        values=values,
        display_name=display_name,
        addresses=addresses,
        seats=seats,
        tags=tags,
    )


# --- what the directory holds --------------------------------------------------------------------
@dataclass
class _Directory:
    """Every contact's columns and related rows, with the indexes matching needs."""

    rows: dict[int, Any]
    by_ep_id: dict[str, int]
    by_wikidata: dict[str, int]
    by_address: dict[str, set[int]]
    alternates: dict[int, list[tuple[int, str]]]
    seats: dict[int, dict[tuple[str, str], int]]
    tags: dict[int, set[str]]
    _by_name: dict[tuple[str, str], list[int]] | None = None

    def by_name(self, name: str, organisation: str | None) -> list[int]:
        if self._by_name is None:
            index: dict[tuple[str, str], list[int]] = defaultdict(list)
            for row in self.rows.values():
                index[_name_key(row.display_name, row.organisation)].append(row.id)
            self._by_name = index
        return self._by_name.get(_name_key(name, organisation), [])


def _name_key(name: str, organisation: str | None) -> tuple[str, str]:
    return (name.strip().casefold(), (organisation or "").strip().casefold())


def _load_directory(session: Session, fields: Iterable[str]) -> _Directory:
    """Four queries, whatever the size of the file or of the directory; of the contacts, the
    columns matching and comparing need and those the file sets."""
    names = dict.fromkeys((*_LOAD_COLUMNS, *(name for name in _FIELD_ORDER if name in fields)))
    # Whether a contact has languages is read from the JSON text: decoding 100,000 lists of
    # languages that the file does not set took a second.
    columns = [getattr(Contact, name) for name in names]
    columns.append(cast_sql(Contact.languages, Text).label(_LANGUAGES_JSON))
    # Core rows (no ORM result processing): a tenth of the time for a large directory.
    connection = session.connection()
    rows = {row[0]: row for row in connection.execute(select(*columns)).all()}
    by_ep_id: dict[str, int] = {}
    by_wikidata: dict[str, int] = {}
    by_address: dict[str, set[int]] = defaultdict(set)
    for row in rows.values():
        if row.ep_id:
            by_ep_id[row.ep_id] = row.id
        if row.wikidata_id:
            by_wikidata[row.wikidata_id.upper()] = row.id
        if row.email:
            by_address[row.email.casefold()].add(row.id)

    alternates: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for email_id, contact_id, address in connection.execute(
        select(ContactEmail.id, ContactEmail.contact_id, ContactEmail.address).order_by(
            ContactEmail.id
        )
    ):
        alternates[contact_id].append((email_id, address))
        by_address[address.casefold()].add(contact_id)

    seats: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    for seat_id, contact_id, acronym, role in connection.execute(
        select(Membership.id, Membership.contact_id, Membership.acronym, Membership.role)
    ):
        seats[contact_id][(acronym, role)] = seat_id

    tags: dict[int, set[str]] = defaultdict(set)
    for contact_id, tag in connection.execute(select(ContactTag.contact_id, ContactTag.tag)):
        tags[contact_id].add(tag)
    return _Directory(rows, by_ep_id, by_wikidata, by_address, alternates, seats, tags)


# --- matching and comparing ----------------------------------------------------------------------
def _match(directory: _Directory, candidate: _Candidate) -> int | None:
    """The contact a record is about, or None for a new one; raises _Rejected on a conflict."""
    values = candidate.values
    ep_id = values.get("ep_id")
    wikidata_id = values.get("wikidata_id")
    by_ep = directory.by_ep_id.get(ep_id) if ep_id else None
    by_wd = directory.by_wikidata.get(wikidata_id.upper()) if wikidata_id else None
    if by_ep is not None and by_wd is not None and by_ep != by_wd:
        raise _Rejected(CONFLICTING_IDS, f"EP id {ep_id} and Wikidata id {wikidata_id}")
    if by_ep is not None or by_wd is not None:
        return by_ep if by_ep is not None else by_wd

    for address in candidate.addresses:
        owners = directory.by_address.get(address.casefold())
        if not owners:
            continue
        if len(owners) > 1:
            raise _Rejected(DUPLICATE_ADDRESS, f"{address} belongs to {len(owners)} contacts")
        (contact_id,) = owners
        return _without_id_conflict(directory, contact_id, ep_id, wikidata_id)

    if candidate.addresses:
        return None
    named = [
        contact_id
        for contact_id in directory.by_name(candidate.display_name, values.get("organisation"))
        # A contact with another EP or Wikidata id is another person of the same name.
        if not (ep_id and directory.rows[contact_id].ep_id)
        and not (wikidata_id and directory.rows[contact_id].wikidata_id)
    ]
    if len(named) > 1:
        raise _Rejected(AMBIGUOUS_NAME, f"{candidate.display_name}: {len(named)} contacts")
    return named[0] if named else None


def _without_id_conflict(
    directory: _Directory, contact_id: int, ep_id: str | None, wikidata_id: str | None
) -> int:
    row = directory.rows[contact_id]
    if ep_id and row.ep_id and row.ep_id != ep_id:
        raise _Rejected(CONFLICTING_IDS, f"the address belongs to EP id {row.ep_id}")
    if wikidata_id and row.wikidata_id and row.wikidata_id.upper() != wikidata_id.upper():
        raise _Rejected(CONFLICTING_IDS, f"the address belongs to Wikidata id {row.wikidata_id}")
    return contact_id


def _empty_json(text: str | None) -> bool:
    return text is None or "".join(text.split()) in ("", "[]", "null")


def _seat_text(acronym: str, role: str) -> str:
    return f"{acronym}:{role}"


def _same(name: str, old: Any, new: Any) -> bool:
    # An address is not rewritten for its case alone; nor is a display name, since the EP's list
    # writes family names in capitals ("Brigitte VAN DEN BERG") where their case is not certain.
    if name in ("email", "display_name") and isinstance(old, str) and isinstance(new, str):
        return old.casefold() == new.casefold()
    if name == "wikidata_id" and isinstance(old, str) and isinstance(new, str):
        return old.upper() == new.upper()
    return bool(old == new)


def _compare(
    directory: _Directory,
    contact_id: int,
    candidate: _Candidate,
    *,
    back_in_office: bool,
) -> PlannedContact:
    """What the record changes on the contact (an empty `changes`: nothing)."""
    row = directory.rows[contact_id]
    planned = PlannedContact(
        line=candidate.line, display_name=row.display_name, contact_id=contact_id
    )
    changes, updates = planned.changes, planned.values

    for name, new in candidate.values.items():
        old = getattr(row, name)
        if not _same(name, old, new):
            changes.append(FieldChange(name, old, new))
            updates[name] = new
    if len(changes) > 1:
        changes.sort(key=lambda change: _FIELD_ORDER.get(change.field, len(_FIELD_ORDER)))

    if "languages" not in candidate.values and _empty_json(getattr(row, _LANGUAGES_JSON)):
        languages = default_languages(updates.get("country_code", row.country_code))
        changes.append(FieldChange("languages", [], languages))
        updates["languages"] = languages
    if "email" in updates and row.email_status != EmailStatus.OK.value:
        changes.append(FieldChange(EMAIL_STATUS, row.email_status, EmailStatus.OK.value))
        updates[EMAIL_STATUS] = EmailStatus.OK.value
    if back_in_office and not row.active:
        changes.append(FieldChange(ACTIVE, False, True))
        updates[ACTIVE] = True
        if "term_end" not in candidate.values and row.term_end is not None:
            changes.append(FieldChange("term_end", row.term_end, None))
            updates["term_end"] = None

    # Alternates: the record's other addresses are added, and a replaced primary address is kept
    # as an alternate with its status (so replies from it still match); the primary address is
    # never also an alternate.
    primary = (updates.get("email") or row.email or "").casefold()
    existing = directory.alternates.get(contact_id, [])
    known = {address.casefold() for _id, address in existing} | {primary}
    planned.remove_alternate_ids = [
        email_id for email_id, address in existing if address.casefold() == primary
    ]
    if "email" in updates and row.email and row.email.casefold() not in known:
        planned.add_alternates.append((row.email, row.email_status))
        known.add(row.email.casefold())
    for address in candidate.addresses[1:]:
        if address.casefold() not in known:
            planned.add_alternates.append((address, EmailStatus.OK.value))
            known.add(address.casefold())
    if planned.add_alternates or planned.remove_alternate_ids:
        before = sorted(address for _id, address in existing)
        after = sorted(
            [address for _id, address in existing if address.casefold() != primary]
            + [address for address, _status in planned.add_alternates]
        )
        changes.append(FieldChange(ALTERNATE_EMAILS, before, after))

    if candidate.seats is not None:
        held = directory.seats.get(contact_id, {})
        wanted = {(seat.acronym, seat.role): seat for seat in candidate.seats}
        planned.remove_seat_ids = [seat_id for key, seat_id in held.items() if key not in wanted]
        planned.add_seats = [seat for key, seat in wanted.items() if key not in held]
        if planned.remove_seat_ids or planned.add_seats:
            changes.append(
                FieldChange(
                    MEMBERSHIPS,
                    sorted(_seat_text(*key) for key in held),
                    sorted(_seat_text(*key) for key in wanted),
                )
            )

    has = directory.tags.get(contact_id, set())
    folded = {tag.casefold() for tag in has}
    planned.add_tags = [tag for tag in candidate.tags if tag.casefold() not in folded]
    if planned.add_tags:
        changes.append(FieldChange(TAGS, sorted(has), sorted([*has, *planned.add_tags])))
    return planned


def _new_contact(candidate: _Candidate, *, source: str) -> PlannedContact:
    values = dict(candidate.values)
    values["display_name"] = candidate.display_name
    values.setdefault("kind", ContactKind.OTHER.value)
    values.setdefault("languages", default_languages(values.get("country_code")))
    values["source"] = source
    return PlannedContact(
        line=candidate.line,
        display_name=candidate.display_name,
        values=values,
        add_seats=list(candidate.seats or ()),
        add_alternates=[(address, EmailStatus.OK.value) for address in candidate.addresses[1:]],
        add_tags=list(candidate.tags),
    )


def _where(record: ContactRecord) -> int | str | None:
    """Where the record is in the file: its line, else the file it came from (an archive's)."""
    return record.line if record.line is not None else record.source_ref


def _line_order(error: RowError) -> tuple[int, int, str]:
    if error.line is None:
        return (0, 0, "")
    if isinstance(error.line, int):
        return (1, error.line, "")
    return (2, 0, str(error.line))


# --- the plan ------------------------------------------------------------------------------------
def plan_import(
    session: Session,
    parsed: ParsedFile,
    *,
    today: date | None = None,
    source: str | None = None,
    update_existing: bool = True,
    progress: Progress | None = None,
) -> ImportPlan:
    """Compare a parsed file with the directory; write nothing.

    `source` is what new contacts get as `Contact.source` (default: the file's source kind, e.g.
    "ep_xml"); it also decides which contacts a complete list speaks for. With
    `update_existing=False` contacts already in the directory are left as they are (a seed file):
    only new ones are created. `progress(done, total)` is called every 1,000 steps (two per
    record: checking, then matching and comparing).
    """
    today = today or datetime.now(UTC).date()
    plan = ImportPlan(
        source_kind=parsed.source_kind,
        filename=parsed.filename,
        source=source or parsed.source_kind,
        complete_list_of=parsed.complete_list_of,
        today=today,
    )
    errors = list(parsed.errors)
    unquote = parsed.source_kind in _SPREADSHEET_SOURCES
    records = parsed.records
    total = 2 * len(records)  # checking, then matching and comparing

    def advance(done: int) -> None:
        if progress is not None and (done % 1000 == 0 or done == total):
            progress(done, total)

    # First check every record, so the directory is read with only the columns the file sets.
    checked: list[tuple[ContactRecord, _Candidate]] = []
    fields: set[str] = set()
    for done, record in enumerate(records, start=1):
        advance(done)
        try:
            candidate = _candidate(record, unquote=unquote)
        except _Rejected as rejected:
            errors.append(RowError(_where(record), rejected.reason, rejected.value))
            continue
        term_end = candidate.values.get("term_end")
        if isinstance(term_end, date) and term_end < today:
            # The source says this official has left: recorded (never deleted) as inactive.
            candidate.values[ACTIVE] = False
        checked.append((record, candidate))
        fields.update(candidate.values)
    directory = _load_directory(session, fields)

    first_line: dict[tuple[str, str], int | str | None] = {}
    matched: set[int] = set()
    matched_line: dict[int, int | str | None] = {}
    for done, (record, candidate) in enumerate(checked, start=len(records) + 1):
        advance(done)
        try:
            keys = _file_keys(candidate, first_line)
            contact_id = _match(directory, candidate)
        except _Rejected as rejected:
            errors.append(RowError(_where(record), rejected.reason, rejected.value))
            continue
        for key in keys:
            first_line[key] = candidate.line

        if contact_id is None:
            planned = _new_contact(candidate, source=plan.source)
            plan.new.append(planned)
            if not planned.email:
                plan.without_email += 1
            continue
        if contact_id in matched:
            errors.append(
                RowError(
                    candidate.line,
                    DUPLICATE_CONTACT,
                    f"same contact as line {matched_line[contact_id]}",
                )
            )
            continue
        matched.add(contact_id)
        matched_line[contact_id] = candidate.line
        row = directory.rows[contact_id]
        if update_existing:
            kind = candidate.values.get("kind", row.kind)
            back = plan.complete_list_of is not None and kind == plan.complete_list_of
            planned = _compare(directory, contact_id, candidate, back_in_office=back)
        else:
            planned = PlannedContact(line=candidate.line, display_name=row.display_name)
        if planned.changes:
            plan.changed.append(planned)
        else:
            plan.unchanged += 1
        if not (planned.values.get("email") or row.email):
            plan.without_email += 1

    advance(total)
    if plan.complete_list_of:
        # A rejected row still names someone who is on the list: never retire them for it.
        plan.left_office = _left_office(directory, plan, matched | _named_by(directory, records))
    errors.sort(key=_line_order)
    plan.errors = errors
    return plan


def _file_keys(
    candidate: _Candidate, first_line: dict[tuple[str, str], int | str | None]
) -> list[tuple[str, str]]:
    """What identifies the record in the file; rejects it when an earlier record has the same
    EP id, Wikidata id or primary address (or, without any of them, name and organisation)."""
    values = candidate.values
    keys: list[tuple[str, str, str]] = []
    if values.get("ep_id"):
        keys.append(("ep_id", values["ep_id"], DUPLICATE_ID))
    if values.get("wikidata_id"):
        keys.append(("wikidata_id", values["wikidata_id"].upper(), DUPLICATE_ID))
    if candidate.addresses:
        keys.append(("email", candidate.addresses[0].casefold(), DUPLICATE_ADDRESS))
    if not keys:
        # Without ids or an address, the name and organisation are what identify the record.
        name = "\x1f".join(_name_key(candidate.display_name, values.get("organisation")))
        keys.append(("name", name, DUPLICATE_CONTACT))
    for kind, key, reason in keys:
        if (kind, key) in first_line:
            shown = candidate.display_name if kind == "name" else key
            raise _Rejected(reason, f"{shown}, as on line {first_line[(kind, key)]}")
    return [(kind, key) for kind, key, _reason in keys]


def _named_by(directory: _Directory, records: Sequence[ContactRecord]) -> set[int]:
    """Contacts that records name by id or address, whether or not the records were accepted."""
    ids: set[int] = set()
    for record in records:
        if record.ep_id and (found := directory.by_ep_id.get(record.ep_id.strip())) is not None:
            ids.add(found)
        if (
            record.wikidata_id
            and (found := directory.by_wikidata.get(record.wikidata_id.strip().upper())) is not None
        ):
            ids.add(found)
        for address in record.emails or ():
            ids.update(directory.by_address.get(address.strip().casefold(), ()))
    return ids


def _left_office(directory: _Directory, plan: ImportPlan, seen: set[int]) -> list[PlannedContact]:
    sources = same_list_sources(plan.source)
    left: list[PlannedContact] = []
    for row in directory.rows.values():
        if (
            row.id in seen
            or not row.active
            or row.kind != plan.complete_list_of
            or row.source not in sources
        ):
            continue
        planned = PlannedContact(line=None, display_name=row.display_name, contact_id=row.id)
        planned.changes.append(FieldChange(ACTIVE, True, False))
        planned.values[ACTIVE] = False
        # A known end date already past is kept: it is more exact than the day of the import.
        if row.term_end is None or row.term_end > plan.today:
            planned.changes.append(FieldChange("term_end", row.term_end, plan.today))
            planned.values["term_end"] = plan.today
        left.append(planned)
    return left


# --- applying ------------------------------------------------------------------------------------
_CHUNK = 500


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _contact_row(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Every column of a new contact (one shape for all, so the insert is one executemany)."""
    return {
        "kind": values["kind"],
        "honorific": values.get("honorific"),
        "given_name": values.get("given_name", ""),
        "family_name": values.get("family_name", ""),
        "display_name": values["display_name"],
        "gender": values.get("gender"),
        "country_code": values.get("country_code"),
        "languages": values["languages"],
        "organisation": values.get("organisation"),
        "position": values.get("position"),
        "political_group": values.get("political_group"),
        "political_group_short": values.get("political_group_short"),
        "national_party": values.get("national_party"),
        "email": values.get("email"),
        "email_status": EmailStatus.OK.value,
        "offices": values.get("offices", []),
        "ep_id": values.get("ep_id"),
        "wikidata_id": values.get("wikidata_id"),
        "source": values["source"],
        "last_import_at": now,
        "term_start": values.get("term_start"),
        "term_end": values.get("term_end"),
        "active": values.get(ACTIVE, True),
        "do_not_contact": False,
        "notes": values.get("notes"),
        "needs_review": values.get("needs_review", False),
        "review_reason": values.get("review_reason"),
        "salutation_overrides": {},
        "address_line_overrides": {},
        "created_at": now,
        "updated_at": now,
    }


def _seat_row(contact_id: int, seat: SeatRecord) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "acronym": seat.acronym,
        "body_kind": seat.body_kind,
        "role": seat.role,
        "start_date": seat.start_date,
        "end_date": seat.end_date,
    }


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _insert_contacts(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new contacts in bulk; their ids, in the order of `rows`.

    The ids are taken before the insert, so it is one plain executemany: SQLite cannot return
    generated ids in parameter order except one row at a time, which is 20 times slower. On
    PostgreSQL they come from the table's own sequence. On SQLite they follow the highest id; the
    transaction already holds SQLite's write lock (the ImportRun was flushed), so no other writer
    can take them in between.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        ids = list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            )
        )
    elif dialect == "sqlite":
        start = (session.scalar(select(func.max(Contact.id))) or 0) + 1
        ids = list(range(start, start + len(rows)))
    else:
        return list(
            session.scalars(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True), rows
            )
        )
    for contact_id, row in zip(ids, rows, strict=True):
        row["id"] = contact_id
    session.execute(insert(_table(Contact)), rows)
    return ids


def apply_plan(session: Session, plan: ImportPlan, *, actor: str) -> ImportRun:
    """Write the plan in the caller's transaction (flushed, not committed); return the ImportRun.

    Plan and apply in the same transaction: the plan names contacts and seats by id as they were
    when it was made. On any error the caller rolls back and the directory is as it was. Objects
    loaded in the session before are expired, so they read the new values.
    """
    session.flush()
    now = utcnow()
    run = ImportRun(
        source_kind=plan.source_kind,
        filename=plan.filename,
        actor=actor,
        at=now,
        counts=plan.counts,
    )
    session.add(run)
    session.flush()

    seats: list[dict[str, Any]] = []
    alternates: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []

    def change(contact_id: int, name: str, old: str | None, new: str | None) -> None:
        changes.append(
            {
                "contact_id": contact_id,
                "import_run_id": run.id,
                "actor": actor,
                "at": now,
                "field": name,
                "old_value": old,
                "new_value": new,
            }
        )

    if plan.new:
        new_ids = _insert_contacts(session, [_contact_row(p.values, now) for p in plan.new])
        for contact_id, planned in zip(new_ids, plan.new, strict=True):
            planned.contact_id = contact_id
            seats.extend(_seat_row(contact_id, seat) for seat in planned.add_seats)
            alternates.extend(
                {"contact_id": contact_id, "address": address, "status": status}
                for address, status in planned.add_alternates
            )
            tags.extend({"contact_id": contact_id, "tag": tag} for tag in planned.add_tags)
            change(contact_id, CREATED, None, planned.display_name)

    updates: list[dict[str, Any]] = []
    remove_seats: list[int] = []
    remove_alternates: list[int] = []
    for planned in (*plan.changed, *plan.left_office):
        target = planned.contact_id
        assert target is not None
        columns = {
            name: value
            for name, value in planned.values.items()
            if name not in (ALTERNATE_EMAILS, MEMBERSHIPS, TAGS)
        }
        updates.append({"id": target, **columns, "last_import_at": now, "updated_at": now})
        remove_seats.extend(planned.remove_seat_ids)
        remove_alternates.extend(planned.remove_alternate_ids)
        seats.extend(_seat_row(target, seat) for seat in planned.add_seats)
        alternates.extend(
            {"contact_id": target, "address": address, "status": status}
            for address, status in planned.add_alternates
        )
        tags.extend({"contact_id": target, "tag": tag} for tag in planned.add_tags)
        for item in planned.changes:
            change(target, item.field, item.old_text, item.new_text)

    if updates:
        # Grouped by the set of columns, so each group is one executemany.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for values in updates:
            groups[tuple(sorted(values))].append(values)
        for group in groups.values():
            session.execute(update(Contact), group)
    for chunk in _chunks(remove_seats):
        session.execute(
            delete(Membership).where(Membership.id.in_(chunk)),
            execution_options={"synchronize_session": False},
        )
    for chunk in _chunks(remove_alternates):
        session.execute(
            delete(ContactEmail).where(ContactEmail.id.in_(chunk)),
            execution_options={"synchronize_session": False},
        )
    for model, rows in (
        (Membership, seats),
        (ContactEmail, alternates),
        (ContactTag, tags),
        (ContactChange, changes),
    ):
        if rows:
            # Core inserts: one executemany each, without the ORM's per-row bookkeeping.
            session.execute(insert(_table(model)), rows)
    session.flush()
    # The bulk statements went around the identity map: objects loaded before must read again.
    session.expire_all()
    return run
