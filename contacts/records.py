"""What every importer produces: plain records of officials, and the rows it had to reject.

Parsers (EP XML, EP API JSON, CSV/XLSX, the bundled files) turn a file into a `ParsedFile`; the
import engine (contacts/importing.py) compares it with the directory and applies it. A field left
`None` in a record means "the file says nothing about this": it never erases what staff entered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


class ImportFileError(ValueError):
    """The file as a whole cannot be read (broken XML, unknown encoding, no header): nothing changes."""


@dataclass(frozen=True)
class SeatRecord:
    acronym: str
    body_kind: str  # "committee" or "delegation"
    role: str  # a contacts.models.MembershipRole value
    start_date: date | None = None
    end_date: date | None = None


@dataclass
class ContactRecord:
    line: int | str | None = None  # line (CSV), row (XLSX), element index (XML) or file (JSON)
    source_ref: str | None = None  # e.g. the file name inside an archive, for error messages
    kind: str | None = None
    honorific: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    display_name: str | None = None
    gender: str | None = None
    country_code: str | None = None  # as given; the engine normalises and rejects unknown ones
    languages: list[str] | None = None
    organisation: str | None = None
    position: str | None = None
    political_group: str | None = None
    political_group_short: str | None = None
    national_party: str | None = None
    emails: list[str] | None = None  # primary first
    offices: list[dict[str, Any]] | None = None
    ep_id: str | None = None
    wikidata_id: str | None = None
    term_start: date | None = None
    term_end: date | None = None
    memberships: list[SeatRecord] | None = None
    tags: list[str] | None = None
    notes: str | None = None
    needs_review: bool | None = None
    review_reason: str | None = None


@dataclass(frozen=True)
class RowError:
    line: int | str | None
    reason: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        text = f"{where}: {self.reason}"
        return f"{text} ({self.value!r})" if self.value else text


@dataclass
class ParsedFile:
    source_kind: str  # ep_xml, ep_api, csv, xlsx, bundled
    filename: str | None
    records: list[ContactRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # When the file is the complete list of some kind of official ("mep"), the contacts of that
    # kind from the same source that are missing from it have left office.
    complete_list_of: str | None = None
    # Spreadsheets only: the header row found, and the {header: field} mapping used to read it,
    # so the upload page can show the columns and let staff correct the mapping.
    headers: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
