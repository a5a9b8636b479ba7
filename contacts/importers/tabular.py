"""Contacts from a CSV file or an XLSX workbook that someone made: any columns, any language.

Reading a CSV file:

* **Encoding.** UTF-8 (with or without a byte-order mark), or UTF-16 with its byte-order mark (what
  Excel's "Unicode text" writes), else Windows-1252 (what Excel writes in Western Europe). A file
  that is none of them, or that holds control characters (a binary file named .csv), is refused
  with the offset of the first byte that does not fit.
* **Delimiter.** Comma, semicolon or tab: ``csv.Sniffer``'s guess is tried first, then the others;
  the one under which a header is found with the most recognised columns wins.
* **Header.** It need not be on the first line: title rows above it are skipped. The header is the
  first of the first 20 non-empty rows that names a name column (full name, given or family name)
  and one more known column, or a column the mapping names, or is a lone known name column
  ("Name"). `detect_mapping` knows common
  English, French and German column names, and the field names themselves (so the directory's own
  CSV export, contacts/export.py, imports back). A `mapping` ``{header: field}`` completes or
  overrides the detection (an empty field ignores the column). No header: ImportFileError.
* **Lines.** A RowError's line is the physical line of the file where the row starts (1-based, the
  header's line counted), so quoted line breaks inside cells do not shift the numbers. In an XLSX
  workbook it is the sheet's row number.

Values are text, as written (stripped of surrounding blanks; names also of inner line breaks). A cell
that begins with =, +, - or @ is text like any other: nothing here evaluates anything, and the
single quote that the directory's export puts before such a value is left for the import engine to
take off. A fully empty row is skipped; a row with no name is rejected ("no name"); a row with more
non-empty cells than the header has columns is rejected (a comma inside an unquoted value shifts
every cell after it). The addresses, countries, kinds and duplicates are checked by the import
engine, which rejects a record with its line.

XLSX formulas: a formula cell gives the value the spreadsheet program computed and saved with the
file (what the person saw: ``=HYPERLINK("mailto:a@b.eu", "a@b.eu")`` gives ``a@b.eu``). A formula
that was never computed (a file written by a script, not saved by Excel or LibreOffice) has no
saved value: it gives its formula text, ``=...``, as a CSV file would. Only the first sheet with a
header is read; its name is each record's ``source_ref``.

Seats: ``committees`` and ``delegations`` cells hold ``AFET:Member;DROI:Substitute`` as in the
bundled file. A row whose seat cells are all blank says nothing about seats (memberships None);
otherwise its seats are all the seats of all its seat cells (a seat list states every seat).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl

from contacts.importers import archives
from contacts.importers.common import Progress, political_group, seats
from contacts.records import ContactRecord, ImportFileError, ParsedFile, RowError

HEADER_SEARCH_ROWS = 20
DELIMITERS = (",", ";", "\t")

# What a column can be mapped to: the fields of ContactRecord, plus "email" (one address per cell),
# "emails" (several, separated by ; or ,) and the seat columns.
TEXT_FIELDS = (
    "display_name",
    "given_name",
    "family_name",
    "honorific",
    "gender",
    "kind",
    "organisation",
    "position",
    "country_code",
    "political_group",
    "political_group_short",
    "national_party",
    "ep_id",
    "wikidata_id",
    "notes",
    "review_reason",
)
LIST_FIELDS = ("emails", "languages", "tags")
DATE_FIELDS = ("term_start", "term_end")
SEAT_FIELDS = {"committees": "committee", "delegations": "delegation"}
FIELD_NAMES: tuple[str, ...] = (
    *TEXT_FIELDS,
    "email",
    *LIST_FIELDS,
    *DATE_FIELDS,
    "needs_review",
    "offices",
    *SEAT_FIELDS,
)
NAME_FIELDS = frozenset({"display_name", "given_name", "family_name"})
_TEXT_FIELD_SET = frozenset(TEXT_FIELDS)
# Notes keep their line breaks; every other text field is one line.
_MULTILINE = frozenset({"notes", "review_reason"})

# Column names per field, compared after `header_key` (no case, accents, spaces or punctuation).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "display_name": (
        "display name", "full name", "fullname", "name", "names", "contact", "contact name",
        "person", "mep", "member", "nom complet", "prénom et nom", "prénom nom", "nom et prénom",
        "vollständiger name", "vor- und nachname", "name und vorname",
    ),
    "given_name": (
        "given name", "first name", "firstname", "forename", "first", "christian name", "prénom",
        "prénoms", "vorname", "vornamen", "voornaam", "nombre", "nome",
    ),
    "family_name": (
        "family name", "last name", "lastname", "surname", "last", "nom de famille", "nachname",
        "familienname", "zuname", "achternaam", "apellidos", "apellido", "cognome",
    ),
    "honorific": (
        "honorific", "title", "courtesy title", "prefix", "salutation title", "civilité",
        "titre de civilité", "anrede", "titel",
    ),
    "gender": ("gender", "sex", "genre", "sexe", "geschlecht"),
    "kind": ("kind", "contact kind", "contact type"),
    "organisation": (
        "organisation", "organization", "org", "institution", "company", "employer", "body",
        "organisme", "société", "behörde", "einrichtung", "unternehmen",
    ),
    "position": (
        "position", "job title", "function", "role", "office held", "fonction", "poste",
        "funktion", "amt", "stellung",
    ),
    "country_code": (
        "country", "country code", "member state", "state", "pays", "code pays", "état membre",
        "land", "staat", "mitgliedstaat", "ländercode",
    ),
    "political_group": (
        "political group", "group", "ep group", "parliamentary group", "groupe", "groupe politique",
        "fraktion", "ep-fraktion", "politische fraktion",
    ),
    "political_group_short": ("political group short", "group short", "group acronym"),
    "national_party": (
        "national party", "party", "national political group", "parti", "parti politique",
        "parti national", "partei", "nationale partei",
    ),
    "ep_id": ("ep id", "mep id", "europarl id", "ep identifier", "identifiant pe", "ep-id"),
    "wikidata_id": ("wikidata", "wikidata id", "wikidata qid", "qid", "wikidata person"),
    "notes": (
        "notes", "note", "comments", "comment", "remarks", "remarques", "remarque", "commentaire",
        "commentaires", "bemerkung", "bemerkungen", "notizen", "anmerkungen",
    ),
    "review_reason": ("review reason",),
    "email": (
        "email", "e-mail", "mail", "email address", "e-mail address", "mail address", "courriel",
        "adresse e-mail", "adresse électronique", "adresse mail", "e-mail-adresse",
        "emailadresse", "primary email",
    ),
    "emails": (
        "emails", "e-mails", "email addresses", "e-mail addresses", "alternate emails",
        "other emails", "adresses e-mail", "e-mail-adressen",
    ),
    "languages": ("languages", "language", "langues", "langue", "sprachen", "sprache"),
    "tags": ("tags", "tag", "labels", "étiquettes", "schlagwörter", "schlagworte"),
    "term_start": ("term start", "start of term", "in office since", "since", "depuis"),
    "term_end": ("term end", "end of term", "in office until", "until", "jusqu'à"),
    "needs_review": ("needs review",),
    "offices": ("offices", "bureaux", "büros"),
    "committees": (
        "committees", "committee", "commissions", "commissions parlementaires", "ausschüsse",
        "ausschuss",
    ),
    "delegations": ("delegations", "delegation", "délégations", "délégation", "delegationen"),
}  # fmt: skip

_TRUE = frozenset({"true", "yes", "y", "1", "x", "oui", "vrai", "ja", "wahr"})
_FALSE = frozenset({"false", "no", "n", "0", "non", "faux", "nein", "falsch"})
_GENDERS = {
    **dict.fromkeys(
        ("m", "male", "man", "mr", "h", "homme", "masculin", "mann", "männlich"), "MALE"
    ),
    **dict.fromkeys(
        ("f", "female", "woman", "ms", "mrs", "w", "femme", "féminin", "frau", "weiblich"),
        "FEMALE",
    ),
}


def header_key(text: str) -> str:
    """ "E-Mail Adresse" -> "emailadresse": no case, accents, spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").casefold())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    # camelCase and snake_case headers split into words too ("fullName", "minister_name").
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    decomposed = unicodedata.normalize("NFKD", spaced.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [word for word in re.split(r"[^0-9a-z]+", plain) if word]


_EXACT: dict[str, str] = {}
for _field, _names in _SYNONYMS.items():
    _EXACT[header_key(_field)] = _field
    for _name in _names:
        _EXACT.setdefault(header_key(_name), _field)


def _guess(header: str) -> str | None:
    """A field for a header no synonym names, from its words ("minister_name", "work e-mail")."""
    words = _words(header)
    if not words or len(words) > 4:
        return None  # a sentence is a title, not a column name
    found = set(words)
    if "wikidata" in found:
        return "wikidata_id" if found & {"id", "qid", "person", "item"} else None
    if found & {"date", "since", "birth", "born", "updated"}:
        return None
    if found & {"email", "emails", "mail", "courriel"}:
        return "emails" if found & {"emails", "addresses", "alternate", "other"} else "email"
    if found & {"name", "nom", "naam"}:
        if found & {"first", "given", "fore", "pre"}:
            return "given_name"
        if found & {"last", "family", "sur"}:
            return "family_name"
        if found & {"company", "organisation", "organization", "institution", "org", "party"}:
            return None
        return "display_name"
    if found & {"country", "pays", "land"}:
        return "country_code"
    if found & {"position", "function", "fonction", "funktion"}:
        return "position"
    if found & {"party", "parti", "partei"}:
        return "national_party"
    return None


def _field_for(header: str) -> tuple[str | None, bool]:
    """(field, exact) for one header: exact when a known name, else a guess from its words."""
    key = header_key(header)
    if not key:
        return None, False
    if key in _EXACT:
        return _EXACT[key], True
    return _guess(header), False


def detect_mapping(headers: Sequence[str]) -> dict[str, str]:
    """``{header: field}`` for the headers recognised, for the UI to show and let staff edit.

    "Name" (or "Nom") is the full name, except beside a given-name column and no family-name
    column ("Vorname", "Name"), where it is the family name, as German and French lists use it.
    """
    mapping: dict[str, str] = {}
    for header in headers:
        text = (header or "").strip()
        field, _exact = _field_for(text)
        if field and text and text not in mapping:
            mapping[text] = field
    fields = set(mapping.values())
    if "given_name" in fields and "family_name" not in fields:
        for header, field in mapping.items():
            if field == "display_name" and header_key(header) in ("name", "nom", "naam"):
                mapping[header] = "family_name"
                break
    return mapping


def _apply_mapping(
    headers: Sequence[str], mapping: Mapping[str, str | None] | None
) -> list[tuple[int, str]]:
    """(column index, field) of the columns to read, detection completed by `mapping`."""
    detected = detect_mapping(headers)
    override: dict[str, str | None] = {}
    for header, field in (mapping or {}).items():
        if field and field not in FIELD_NAMES:
            raise ImportFileError(
                f"the column mapping names an unknown field {field!r} (for {header!r}); "
                f"fields: {', '.join(FIELD_NAMES)}"
            )
        override[header_key(header)] = field or None
    columns: list[tuple[int, str]] = []
    for index, header in enumerate(headers):
        text = (header or "").strip()
        key = header_key(text)
        field = override[key] if key in override else detected.get(text)
        if field:
            columns.append((index, field))
    return columns


@dataclass(frozen=True)
class _Header:
    index: int  # position among the rows searched
    headers: list[str]
    columns: list[tuple[int, str]]


def _header_in(
    rows: Iterable[list[str]], mapping: Mapping[str, str | None] | None
) -> _Header | None:
    """The first row of the first 20 non-empty ones that reads as a header (see module doc)."""
    mapped = {header_key(h) for h, f in (mapping or {}).items() if f}
    seen = 0
    for index, cells in enumerate(rows):
        filled = [cell.strip() for cell in cells if cell.strip()]
        if not filled:
            continue
        seen += 1
        if seen > HEADER_SEARCH_ROWS:
            break
        columns = _apply_mapping(cells, mapping)
        fields = {field for _i, field in columns}
        if not fields & NAME_FIELDS:
            continue
        # Staff named this column in the mapping, or it is the only cell and a known name.
        chosen = any(header_key(cell) in mapped for cell in filled)
        alone = len(filled) == 1 and _field_for(filled[0])[1]
        if len(columns) >= 2 or chosen or alone:
            return _Header(index=index, headers=list(cells), columns=columns)
    return None


def _no_header(filename: str | None) -> ImportFileError:
    return ImportFileError(
        f"{filename or 'the file'}: no header row found in the first {HEADER_SEARCH_ROWS} rows: "
        "a header names the columns, with at least a name column (e.g. 'Name', 'First name' and "
        "'Last name', 'Nom', 'Prénom', 'Vorname', 'Nachname') and one more (e.g. 'E-mail'); or "
        "give a column mapping"
    )


# --- values ------------------------------------------------------------------------------------
class _BadValue(ValueError):
    def __init__(self, reason: str, value: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value


def _split(text: str, separators: str = r"[;,\n]") -> list[str]:
    return [part.strip() for part in re.split(separators, text) if part.strip()]


def _date(text: str, header: str) -> date:
    try:
        return date.fromisoformat(text[:10] if re.match(r"^\d{4}-\d\d-\d\dT", text) else text)
    except ValueError:
        raise _BadValue(f"{header}: not a date (YYYY-MM-DD)", text) from None


def _bool(text: str, header: str) -> bool:
    key = text.casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise _BadValue(f"{header}: not yes or no", text)


def _offices(text: str, header: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _BadValue(f"{header}: not a JSON list of offices", text[:200])
    return value


def _newlines(text: str) -> str:
    """Line breaks inside a cell as \n, whatever the file's line ends."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _record(
    cells: Sequence[str],
    header: _Header,
    line: int,
    source_ref: str | None,
) -> tuple[ContactRecord | None, RowError | None]:
    """One data row as a record, or the reason it is rejected; (None, None) for an empty row."""
    filled = [cell for cell in cells if cell and not cell.isspace()]
    if not filled:
        return None, None
    width = len(header.headers)
    extra = [cell for cell in cells[width:] if cell and not cell.isspace()]
    if extra:
        return None, RowError(
            line,
            f"{width + len(extra)} cells, but the header has {width} columns",
            extra[0].strip()[:80],
        )

    # field -> [(header, cell text), ...] in column order, blank cells left out
    values: dict[str, list[tuple[str, str]]] = {}
    count = len(cells)
    for index, field in header.columns:
        raw = cells[index] if index < count else ""
        if raw and not raw.isspace():
            text = _newlines(raw).strip() if "\r" in raw else raw.strip()
            values.setdefault(field, []).append((header.headers[index].strip(), text))

    texts: dict[str, Any] = {}
    for field, found in values.items():
        if field in _TEXT_FIELD_SET:
            value = found[0][1]  # the first non-blank column wins
            texts[field] = value if field in _MULTILINE else " ".join(value.split())
    if not (texts.get("display_name") or texts.get("given_name") or texts.get("family_name")):
        return None, RowError(line, "no name", filled[0].strip()[:80])
    record = ContactRecord(line=line, source_ref=source_ref, **texts)

    try:
        emails = [value for _h, value in values.get("email", ())]
        for _h, value in values.get("emails", ()):
            emails.extend(_split(value, r"[;,\s]+"))
        unique: list[str] = []
        for address in emails:
            if address.casefold() not in {a.casefold() for a in unique}:
                unique.append(address)
        record.emails = unique or None
        languages = [
            code.lower() for _h, v in values.get("languages", ()) for code in _split(v, r"[;,/\s]+")
        ]
        record.languages = languages or None
        tags = [tag for _h, value in values.get("tags", ()) for tag in _split(value)]
        record.tags = tags or None
        for field in DATE_FIELDS:
            for name, value in values.get(field, ())[:1]:
                setattr(record, field, _date(value, name))
        for name, value in values.get("needs_review", ())[:1]:
            record.needs_review = _bool(value, name)
        for name, value in values.get("offices", ())[:1]:
            record.offices = _offices(value, name)
    except _BadValue as bad:
        return None, RowError(line, bad.reason, bad.value)

    seat_cells = [
        (SEAT_FIELDS[field], value) for field in SEAT_FIELDS for _h, value in values.get(field, ())
    ]
    if seat_cells:
        record.memberships = [seat for kind, text in seat_cells for seat in seats(text, kind)]

    if record.gender:
        record.gender = _GENDERS.get(record.gender.casefold().rstrip("."), record.gender)
    # An EP group given by name or acronym ("EPP", "Renew Europe Group") fills both fields.
    if record.political_group:
        record.political_group, short = political_group(record.political_group)
        record.political_group_short = record.political_group_short or short
    if record.political_group_short:
        full, short = political_group(record.political_group_short)
        if short:
            record.political_group_short = short
            record.political_group = record.political_group or full
    return record, None


def _is_header(cells: Sequence[str], header: _Header, keys: list[str]) -> bool:
    # Cheap test first: most rows differ from the header in their first cell.
    if len(cells) != len(keys) or not cells or cells[0].strip() != header.headers[0].strip():
        return False
    return [header_key(cell) for cell in cells] == keys


# --- CSV ---------------------------------------------------------------------------------------
def _control_character(text: str) -> int | None:
    """Index of the first control character no text file holds (a trailing Ctrl-Z is allowed)."""
    for match in re.finditer(r"[\x00-\x08\x0b\x0e-\x1f\x7f]", text):
        if match.group() == "\x1a" and not text[match.end() :].strip("\x1a"):
            return None
        return match.start()
    return None


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes, filename: str | None = None) -> str:
    """The text of a CSV file: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252."""
    name = filename or "the file"
    encoding, start = "", 0
    for bom, codec in _BOMS:
        if data.startswith(bom):
            encoding, start = codec, len(bom)
            break
    if encoding:
        try:
            text = data[start:].decode(encoding)
        except UnicodeDecodeError as exc:
            offset = exc.start + start
            raise ImportFileError(
                f"{name}: begins with a {encoding.upper()} byte-order mark, but byte "
                f"0x{data[offset]:02X} at offset {offset} is not {encoding.upper()}"
            ) from None
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as utf8:
            try:
                text, encoding = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError as cp1252:
                raise ImportFileError(
                    f"{name}: neither UTF-8 (byte 0x{data[utf8.start]:02X} at offset "
                    f"{utf8.start}) nor Windows-1252 (byte 0x{data[cp1252.start]:02X} at offset "
                    f"{cp1252.start}) text"
                ) from None
    control = _control_character(text)
    if control is not None:
        offset = start + len(text[:control].encode(encoding))
        raise ImportFileError(
            f"{name}: not a text file: control byte 0x{ord(text[control]):02X} at offset {offset} "
            "(a spreadsheet saved in another format? Save it as CSV, or upload the .xlsx)"
        )
    return text


def _line_count(text: str) -> int:
    """Physical lines, as an editor numbers them (\n, \r\n or \r ends a line)."""
    count = text.count("\n") + text.count("\r") - text.count("\r\n")
    return count + (1 if text and not text.endswith(("\n", "\r")) else 0)


@dataclass
class _Row:
    line: int  # physical line where the row starts
    cells: list[str] | None  # None: the row could not be read
    error: str | None = None
    last_line: int = 0


def _csv_rows(text: str, delimiter: str) -> Iterator[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = str(exc)
            if "end of data" in message:
                message = (
                    f"a quoted cell is never closed: lines {start} to {reader.line_num} are one "
                    "cell"
                )
            else:
                message = f"malformed quoting ({message})"
            yield _Row(line=start, cells=None, error=message, last_line=reader.line_num)
            continue
        yield _Row(line=start, cells=cells, last_line=reader.line_num)


def _first_rows(text: str, delimiter: str, count: int = 60) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in _csv_rows(text, delimiter):
        rows.append(row.cells or [])
        if len(rows) >= count:
            break
    return rows


def _sniffed(text: str) -> str | None:
    try:
        # A short sample: the Sniffer's regular expressions are slow on long quoted cells.
        return csv.Sniffer().sniff(text[:8192], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return None


def _choose_delimiter(
    text: str, mapping: Mapping[str, str | None] | None, preferred: str | None
) -> tuple[str, _Header] | None:
    candidates = [d for d in (preferred, _sniffed(text), *DELIMITERS) if d]
    best: tuple[str, _Header] | None = None
    for delimiter in dict.fromkeys(candidates):
        header = _header_in(_first_rows(text, delimiter), mapping)
        if header and (best is None or len(header.columns) > len(best[1].columns)):
            best = (delimiter, header)
    return best


def _describe_header(parsed: ParsedFile, header: _Header) -> None:
    parsed.headers = [cell.strip() for cell in header.headers]
    parsed.mapping = {header.headers[index].strip(): field for index, field in header.columns}


def parse_csv(
    data: bytes,
    *,
    filename: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    progress: Progress | None = None,
) -> ParsedFile:
    """Parse a CSV (or tab-separated) file of contacts; see the module doc for the rules."""
    text = decode_text(data, filename)
    preferred = "\t" if (filename or "").lower().endswith((".tsv", ".tab")) else None
    chosen = _choose_delimiter(text, mapping, preferred)
    if chosen is None:
        raise _no_header(filename)
    delimiter, header = chosen
    total = _line_count(text)
    parsed = ParsedFile(source_kind="csv", filename=filename)
    _describe_header(parsed, header)
    header_key_row = [header_key(cell) for cell in header.headers]
    for position, row in enumerate(_csv_rows(text, delimiter)):
        if progress is not None:
            progress(min(row.last_line, total), total)
        if position <= header.index:
            continue
        if row.cells is None:
            parsed.errors.append(RowError(row.line, row.error or "unreadable row"))
            continue
        if _is_header(row.cells, header, header_key_row):
            continue  # the header again (files joined end to end)
        record, error = _record(row.cells, header, row.line, None)
        if error is not None:
            parsed.errors.append(error)
        elif record is not None:
            parsed.records.append(record)
    return parsed


# --- XLSX --------------------------------------------------------------------------------------
def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = getattr(value, "text", None)  # ArrayFormula and DataTableFormula objects
    return str(text if isinstance(text, str) else value)


def _check_workbook(data: bytes, filename: str | None) -> None:
    name = filename or "the file"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            f"{name}: an old Excel workbook (.xls): save it as .xlsx or CSV first"
        )
    if not data.startswith(archives.ZIP_MAGIC):
        raise ImportFileError(f"{name}: not an XLSX workbook")
    limits = archives.DEFAULT_LIMITS
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ImportFileError(f"{name}: not a readable XLSX workbook ({exc})") from exc
    declared = sum(info.file_size for info in infos)
    if len(infos) > limits.max_files or declared > limits.max_total_bytes:
        raise ImportFileError(
            f"{name}: refused: the workbook unpacks to {declared:,} bytes in {len(infos):,} "
            "parts (a zip bomb?)"
        )


def _sheet_rows(sheet: Any) -> list[list[Any]]:
    sheet.reset_dimensions()  # some writers store a wrong size; read what is there
    return [list(row) for row in sheet.iter_rows()]


def parse_xlsx(
    source: Path | bytes,
    *,
    filename: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    progress: Progress | None = None,
) -> ParsedFile:
    """Parse the first sheet with a header of an XLSX workbook; see the module doc for formulas."""
    data = source.read_bytes() if isinstance(source, Path) else source
    _check_workbook(data, filename)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise ImportFileError(
            f"{filename or 'the file'}: not a readable XLSX workbook ({exc.__class__.__name__}: "
            f"{exc})"
        ) from exc
    try:
        for sheet_index, sheet in enumerate(workbook.worksheets):
            cells = _sheet_rows(sheet)
            texts = [[_cell_text(cell.value) for cell in row] for row in cells]
            header = _header_in(texts, mapping)
            if header is None:
                continue
            formulas = [
                (r, c)
                for r, row in enumerate(cells)
                for c, cell in enumerate(row)
                if getattr(cell, "data_type", None) == "f"
            ]
            if formulas:
                _saved_values(data, sheet_index, formulas, texts)
            return _xlsx_records(texts, header, sheet.title, filename, progress)
    finally:
        workbook.close()
    raise _no_header(filename)


def _saved_values(
    data: bytes, sheet_index: int, formulas: list[tuple[int, int]], texts: list[list[str]]
) -> None:
    """Put the values the spreadsheet saved in place of the formulas that have one."""
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows = _sheet_rows(workbook.worksheets[sheet_index])
    finally:
        workbook.close()
    for r, c in formulas:
        if r < len(rows) and c < len(rows[r]) and rows[r][c].value is not None:
            texts[r][c] = _cell_text(rows[r][c].value)


def _xlsx_records(
    texts: list[list[str]],
    header: _Header,
    sheet: str,
    filename: str | None,
    progress: Progress | None,
) -> ParsedFile:
    parsed = ParsedFile(source_kind="xlsx", filename=filename)
    _describe_header(parsed, header)
    total = len(texts)
    header_key_row = [header_key(cell) for cell in header.headers]
    for index, row in enumerate(texts):
        if progress is not None:
            progress(index + 1, total)
        if index <= header.index:
            continue
        if _is_header(row, header, header_key_row):
            continue
        # After reset_dimensions() every sheet row is listed from row 1, so the index is the row.
        record, error = _record(row, header, index + 1, sheet)
        if error is not None:
            parsed.errors.append(error)
        elif record is not None:
            parsed.records.append(record)
    return parsed
