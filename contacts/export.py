"""CSV export of the directory, and the formula neutralisation every CSV export uses.

The columns are the ones a CSV import understands (the names of `ContactRecord`'s fields, with
the seats split into committees and delegations as in the bundled file), so exporting the directory
and importing the file again changes nothing.

A spreadsheet runs a cell that begins with =, +, - or @ (or with a tab or carriage return, which
some read past) as a formula: `neutralise` puts a single quote before such a value, which the
spreadsheet shows as text (OWASP's advice for CSV injection). `restore` takes that quote off again;
the import engine applies it to CSV and XLSX cells, so values round-trip exactly.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from contacts.models import Contact

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SEPARATOR = ";"

EXPORT_COLUMNS = (
    "kind",
    "display_name",
    "honorific",
    "given_name",
    "family_name",
    "gender",
    "country_code",
    "languages",
    "organisation",
    "position",
    "political_group",
    "political_group_short",
    "national_party",
    "email",
    "alternate_emails",
    "ep_id",
    "wikidata_id",
    "term_start",
    "term_end",
    "committees",
    "delegations",
    "tags",
    "offices",
    "notes",
    "needs_review",
    "review_reason",
)


def _needs_quote(value: str) -> bool:
    # Quotes before a formula count as part of it: "'=x" becomes "''=x", so `restore` is exact.
    return value.lstrip("'").startswith(_FORMULA_STARTS)


def neutralise(value: Any) -> str:
    """The text of a CSV cell, with a ' before a value a spreadsheet would run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if _needs_quote(text) else text


def restore(value: str) -> str:
    """The inverse of `neutralise`: ``restore(neutralise(v)) == v`` for every text v."""
    if value.startswith("'") and _needs_quote(value[1:]):
        return value[1:]
    return value


def _joined(values: Iterable[str]) -> str:
    return SEPARATOR.join(values)


def contact_row(contact: Contact) -> dict[str, str]:
    """One contact as export cells (before neutralisation)."""

    def seats(body_kind: str) -> str:
        return _joined(
            f"{m.acronym}:{m.role}"
            for m in sorted(contact.memberships, key=lambda m: (m.acronym, m.role))
            if m.body_kind == body_kind
        )

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if hasattr(value, "isoformat"):
            return str(value.isoformat())
        return str(value)

    return {
        "kind": contact.kind,
        "display_name": contact.display_name,
        "honorific": text(contact.honorific),
        "given_name": contact.given_name,
        "family_name": contact.family_name,
        "gender": text(contact.gender),
        "country_code": text(contact.country_code),
        "languages": _joined(contact.languages or []),
        "organisation": text(contact.organisation),
        "position": text(contact.position),
        "political_group": text(contact.political_group),
        "political_group_short": text(contact.political_group_short),
        "national_party": text(contact.national_party),
        "email": text(contact.email),
        "alternate_emails": _joined(e.address for e in contact.alternate_emails),
        "ep_id": text(contact.ep_id),
        "wikidata_id": text(contact.wikidata_id),
        "term_start": text(contact.term_start),
        "term_end": text(contact.term_end),
        "committees": seats("committee"),
        "delegations": seats("delegation"),
        "tags": _joined(contact.tags),
        "offices": json.dumps(contact.offices, ensure_ascii=False) if contact.offices else "",
        "notes": text(contact.notes),
        "needs_review": text(contact.needs_review),
        "review_reason": text(contact.review_reason),
    }


def write_contacts_csv(
    session: Session, stream: IO[str], *, contact_ids: Sequence[int] | None = None
) -> int:
    """Write the directory (or the given contacts) as CSV to a text stream; return the row count.

    Open a file for it with ``newline=""`` (the csv module writes the line ends)."""
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    stmt = (
        select(Contact)
        .order_by(Contact.id)
        .options(
            selectinload(Contact.memberships),
            selectinload(Contact.alternate_emails),
            selectinload(Contact.tag_rows),
        )
        .execution_options(yield_per=1000)
    )
    if contact_ids is not None:
        stmt = stmt.where(Contact.id.in_(list(contact_ids)))
    count = 0
    for contact in session.scalars(stmt):
        row = contact_row(contact)
        writer.writerow([neutralise(row[column]) for column in EXPORT_COLUMNS])
        count += 1
    return count
