"""The EP Open Data Portal API v2: per-MEP JSON-LD files (``/meps/{id}``), in a folder or archive.

Each file holds ``{"data": [person], "@context": ...}``. A person has proper-case given and family
names, gender, an honorific (MR/MS), e-mail addresses, and ``hasMembership``: the parliamentary
mandates (``role`` MEMBER_PARLIAMENT, with the country represented and the offices and phones) and
the seats in committees, delegations, groups and parties, each with ``memberDuring`` dates and an
``org/NNNN`` body id. Committee and delegation ids are mapped to acronyms by ``ep_org_acronyms.csv``
beside this module (see ATTRIBUTION.md); political groups by the table below.

Who becomes a record, relative to `today`:

* an MEP with a mandate that covers `today` (started, and not ended or ending today or later): the
  full record, with the seats that cover `today` (ended or future seats are left out);
* an MEP whose last mandate, in the sitting term (the latest term among the archive's current
  mandates), has ended (e.g. left to join the Commission): a record with ``term_end`` set, no
  seats (``memberships == []``) and ``needs_review`` with the reason, so that nobody writes to
  them as an MEP before staff have looked; no e-mail, offices or group (None: unchanged);
* MEPs of earlier terms only: skipped (not errors): they are not officials any more, and creating
  them would only fill the directory with people who cannot be written to. So is everyone who has
  left when no MEP of the archive sits on `today` (an old archive), and an MEP whose mandate starts
  after `today` (not in office yet; the next import will have them).

An archive of per-MEP files is not known to be complete (a folder may hold a few files), so the
parsed file never claims to be the complete list: ``complete_list_of`` stays None.

E-mail addresses: the API lists them in no meaningful order; the primary (first) is the one with the
longest local part, the fullest form of the name ("carlamaria.nunestavares@" before "carla.tavares@"),
which is the choice the bundled directory made for all 12 MEPs of 2025-07 with two addresses.

A record's ``source_ref`` is its file's path in the archive (``line`` stays None: it is typed as a
number). A file that cannot be read (bad JSON, no person in it) is a RowError whose line is that
path; the rest of the archive is still read. National parties are not named in these files (only
``org/NNNN`` ids): ``national_party`` stays None, for the full-list XML to fill.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from contacts.bundled import EUROPEAN_PARLIAMENT, parse_role
from contacts.importers import archives
from contacts.importers.common import EP_GROUPS, Progress, clean, one_line
from contacts.models import ContactKind
from contacts.records import ContactRecord, ImportFileError, ParsedFile, RowError, SeatRecord

SOURCE_KIND = "ep_api"
ORG_ACRONYMS_FILE = "ep_org_acronyms.csv"
_SUFFIXES = (".json", ".jsonld")

# Political groups of the 10th term: each id joined against the group the full-list XML gives the
# same MEPs (716 current MEPs; 713 agree, the 3 others changed group between the two snapshots).
GROUP_ORGS: dict[str, str] = {
    "org/7018": "EPP",
    "org/7038": "S&D",
    "org/7150": "PfE",
    "org/7037": "ECR",
    "org/7035": "Renew",
    "org/7028": "Greens/EFA",
    "org/7036": "The Left",
    "org/7151": "ESN",
    "org/6561": "NI",
}
_GROUP_NAMES = {short: name for name, short in EP_GROUPS.items()}

# The EP's country authority uses ISO 3166-1 alpha-3; the directory uses alpha-2 (GR for Greece).
_ISO3 = {
    "AUT": "AT", "BEL": "BE", "BGR": "BG", "HRV": "HR", "CYP": "CY", "CZE": "CZ", "DNK": "DK",
    "EST": "EE", "FIN": "FI", "FRA": "FR", "DEU": "DE", "GRC": "GR", "HUN": "HU", "IRL": "IE",
    "ITA": "IT", "LVA": "LV", "LTU": "LT", "LUX": "LU", "MLT": "MT", "NLD": "NL", "POL": "PL",
    "PRT": "PT", "ROU": "RO", "SVK": "SK", "SVN": "SI", "ESP": "ES", "SWE": "SE",
}  # fmt: skip

# The EP's buildings (the "site" of a contact point): Brussels and Strasbourg.
_SITES = {
    "ASP": "Brussels",  # Altiero Spinelli
    "ATR": "Brussels",  # Atrium
    "PHS": "Brussels",  # Paul-Henri Spaak
    "TRI": "Brussels",  # Trèves
    "WIB": "Brussels",  # Willy Brandt
    "WIE": "Brussels",  # Wiertz
    "LOW": "Strasbourg",  # Louise Weiss
    "WIC": "Strasbourg",  # Winston Churchill
    "SDM": "Strasbourg",  # Salvador de Madariaga
    "HAV": "Strasbourg",  # Václav Havel
}
_PLACE_ORDER = {"Brussels": 0, "Strasbourg": 1}

_MANDATE = "MEMBER_PARLIAMENT"
_TERM = re.compile(r"^org/ep-(\d+)$")


@dataclass(frozen=True)
class OrgBody:
    acronym: str
    name: str


@cache
def org_acronyms() -> dict[str, OrgBody]:
    """``org/NNNN`` -> committee or delegation acronym and name, from the bundled CSV."""
    text = (resources.files("contacts.importers") / ORG_ACRONYMS_FILE).read_text(encoding="utf-8")
    return {
        row["org_id"]: OrgBody(acronym=row["acronym"], name=row["name"])
        for row in csv.DictReader(io.StringIO(text))
    }


def _last(uri: Any) -> str | None:
    """``".../honorific/MR"`` -> ``"MR"``; ``"def/ep-roles/CHAIR_VICE"`` -> ``"CHAIR_VICE"``."""
    if not isinstance(uri, str) or not uri.strip():
        return None
    return uri.strip().rstrip("/").rsplit("/", 1)[-1]


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class _Membership:
    raw: dict[str, Any]
    start: date | None
    end: date | None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> _Membership:
        during = raw.get("memberDuring")
        during = during if isinstance(during, dict) else {}
        return cls(raw=raw, start=_date(during.get("startDate")), end=_date(during.get("endDate")))

    def covers(self, today: date) -> bool:
        return (self.start is None or self.start <= today) and (
            self.end is None or self.end >= today
        )

    @property
    def role(self) -> str:
        return _last(self.raw.get("role")) or ""

    @property
    def classification(self) -> str:
        return _last(self.raw.get("membershipClassification")) or ""

    @property
    def organization(self) -> str:
        value = self.raw.get("organization")
        return value.strip() if isinstance(value, str) else ""

    @property
    def term(self) -> int | None:
        match = _TERM.match(self.organization)
        return int(match.group(1)) if match else None


@dataclass
class _Parsed:
    """One person read from a file, before the archive-wide decision on former MEPs."""

    record: ContactRecord | None
    error: RowError | None = None
    left: bool = False  # no mandate covers `today`: the record is of an MEP who has left
    term: int | None = None  # the term (org/ep-N) of the mandate the record describes


def _emails(value: Any) -> list[str]:
    addresses: list[str] = []
    for item in _as_list(value):
        if not isinstance(item, str):
            continue
        address = item.strip()
        if address.lower().startswith("mailto:"):
            address = address[len("mailto:") :]
        if address and address not in addresses:
            addresses.append(address)
    # Stable: addresses of equal length keep the file's order.
    return sorted(addresses, key=lambda a: -len(a.partition("@")[0]))


def _phone(value: Any) -> str | None:
    # {"hasValue": "tel:+3222845975"}, or only the node's id "tel/003222845975" when the same phone
    # node was already given in full elsewhere in the file (JSON-LD writes a node out once).
    text = (value.get("hasValue") or value.get("id")) if isinstance(value, dict) else value
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text.startswith("tel:"):
        return text[len("tel:") :] or None
    digits = text.rsplit("/", 1)[-1]
    if digits.startswith("00") and digits[2:].isdigit():
        return "+" + digits[2:]
    return digits or None


def _offices(mandate: _Membership) -> list[dict[str, Any]]:
    offices: list[dict[str, Any]] = []
    for point in _as_list(mandate.raw.get("contactPoint")):
        if not isinstance(point, dict):
            continue
        site = _last(point.get("hasSite"))
        room = clean(point.get("officeAddress"))
        phone = _phone(point.get("hasTelephone"))
        if not (room or phone):
            continue
        office: dict[str, Any] = {"place": _SITES.get(site or "")}
        office["address"] = " ".join(part for part in (site, room) if part) or None
        if phone:
            office["phone"] = phone
        if office not in offices:
            offices.append(office)
    offices.sort(key=lambda office: _PLACE_ORDER.get(office["place"] or "", 2))
    return offices


def _seats(memberships: Iterable[_Membership], today: date) -> list[SeatRecord]:
    bodies = org_acronyms()
    seats: dict[tuple[str, str], SeatRecord] = {}
    for membership in memberships:
        classification = membership.classification
        if classification.startswith("COMMITTEE"):
            body_kind = "committee"
        elif classification.startswith("DELEGATION"):
            body_kind = "delegation"
        else:
            continue
        if not membership.covers(today) or not membership.organization:
            continue
        body = bodies.get(membership.organization)
        # A body the mapping does not know yet keeps its id as acronym: visible, not dropped.
        acronym = body.acronym if body else membership.organization
        role = parse_role(membership.role).value
        seats.setdefault(
            (acronym, role),
            SeatRecord(
                acronym=acronym,
                body_kind=body_kind,
                role=role,
                start_date=membership.start,
                end_date=membership.end,
            ),
        )
    return sorted(seats.values(), key=lambda s: (s.body_kind, s.acronym, s.role))


def _country(mandate: _Membership) -> tuple[str | None, str | None]:
    """(alpha-2 code, as given) of the country the mandate represents."""
    for uri in _as_list(mandate.raw.get("represents")):
        code = _last(uri)
        if code:
            return _ISO3.get(code.upper()), code
    return None, None


def _person_record(person: dict[str, Any], where: str, today: date) -> _Parsed:
    ep_id = clean(person.get("identifier")) or clean(person.get("notation_codictPersonId"))
    if not ep_id:
        ep_id = _last(person.get("id"))
    if not ep_id or not ep_id.isdigit():
        return _Parsed(None, RowError(where, "no EP id", clean(person.get("label"))))

    memberships = [
        _Membership.of(item)
        for item in _as_list(person.get("hasMembership"))
        if isinstance(item, dict)
    ]
    mandates = [m for m in memberships if m.role == _MANDATE]
    current = sorted(
        (m for m in mandates if m.covers(today)), key=lambda m: m.start or date.min, reverse=True
    )
    if current:
        mandate = current[0]
    elif mandates:
        mandate = max(mandates, key=lambda m: (m.end or date.max, m.start or date.min))
        if mandate.end is None or mandate.end >= today:
            return _Parsed(None)  # a mandate that starts later: not an official yet
    else:
        return _Parsed(None, RowError(where, "no parliamentary mandate", ep_id))

    given = one_line(clean(person.get("givenName")))
    family = one_line(clean(person.get("familyName")))
    display = " ".join(part for part in (given, family) if part) or one_line(
        clean(person.get("label"))
    )
    if not display:
        return _Parsed(None, RowError(where, "no name", ep_id))
    gender = _last(person.get("hasGender"))
    country_code, country_given = _country(mandate)
    if country_given and country_code is None:
        error = RowError(where, "unknown country", country_given)
        return _Parsed(None, error, left=not current, term=mandate.term)

    record = ContactRecord(
        source_ref=where,
        kind=ContactKind.MEP.value,
        ep_id=ep_id,
        honorific=_last(person.get("hasHonorificPrefix")),
        given_name=given,
        family_name=family,
        display_name=display,
        # "NKN" (not known) says nothing.
        gender=gender if gender in ("MALE", "FEMALE") else None,
        country_code=country_code,
        organisation=EUROPEAN_PARLIAMENT,
        term_start=mandate.start,
        term_end=mandate.end,
    )
    if not current:
        # Left office: no seats any more, and nobody should write to them as an MEP.
        record.memberships = []
        record.needs_review = True
        ended = mandate.end.isoformat() if mandate.end else "?"
        record.review_reason = f"No longer an MEP: the mandate ended on {ended} (EP Open Data API)."
        return _Parsed(record, left=True, term=mandate.term)

    record.emails = _emails(person.get("hasEmail")) or None
    record.offices = _offices(mandate) or None
    record.memberships = _seats(memberships, today)
    groups = [
        m
        for m in memberships
        if m.classification == "EU_POLITICAL_GROUP" and m.covers(today) and m.organization
    ]
    for group in groups:
        short = GROUP_ORGS.get(group.organization)
        if short:
            record.political_group = _GROUP_NAMES[short]
            record.political_group_short = short
            break
    return _Parsed(record, term=mandate.term)


def _persons(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict):
        items = document.get("data", document.get("@graph"))
        if items is None and document.get("type") == "Person":
            items = [document]
    else:
        items = document
    return [
        item
        for item in _as_list(items)
        if isinstance(item, dict) and item.get("type", "Person") == "Person"
    ]


def _parse_person_file(data: bytes, where: str, today: date) -> list[_Parsed]:
    """The persons of one JSON-LD file (usually one), or the RowError that says why none."""
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        return [
            _Parsed(
                None,
                RowError(
                    where, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                ),
            )
        ]
    except (UnicodeDecodeError, RecursionError) as exc:
        return [_Parsed(None, RowError(where, f"not valid JSON ({exc.__class__.__name__})"))]
    persons = _persons(document)
    if not persons:
        return [_Parsed(None, RowError(where, "not an EP API person record (no Person in data)"))]
    results = []
    for index, person in enumerate(persons, start=1):
        here = where if len(persons) == 1 else f"{where}#{index}"
        results.append(_person_record(person, here, today))
    return results


def _members(
    source: Path | bytes, filename: str | None
) -> tuple[Iterator[tuple[str, bytes]], int | None]:
    """(path, content) of the JSON files of a folder, a .zip, a .tar(.gz) or a single file."""
    if isinstance(source, Path) and source.is_dir():
        files = archives.folder_files(source, _SUFFIXES)
        return archives.iter_folder(source, _SUFFIXES), len(files)
    head = source[:512] if isinstance(source, bytes) else _head(source)
    name = filename or (source.name if isinstance(source, Path) else "")
    if head.startswith(archives.ZIP_MAGIC):
        total = archives.count_zip_members(source, _SUFFIXES, filename=filename)
        return archives.iter_zip(source, _SUFFIXES, filename=filename), total
    if head.startswith(archives.GZIP_MAGIC) or head[257:262] == b"ustar":
        return archives.iter_tar(source, _SUFFIXES, filename=filename), None
    if head.lstrip()[:1] in (b"{", b"["):
        data = source if isinstance(source, bytes) else source.read_bytes()
        return iter([(Path(name).name or "file.json", data)]), 1
    raise ImportFileError(
        f"{filename or 'the file'}: not EP API data: expected a .json file, a .zip or .tar.gz "
        "archive, or a folder of them"
    )


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(512)
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc.strerror})") from exc


def parse_ep_api(
    source: Path | bytes,
    *,
    filename: str | None = None,
    today: date | None = None,
    progress: Progress | None = None,
) -> ParsedFile:
    """Parse EP API v2 per-MEP JSON (a folder, .zip, .tar.gz or one .json) into MEP records."""
    today = today or datetime.now(UTC).date()
    members, total = _members(source, filename)
    parsed = ParsedFile(source_kind=SOURCE_KIND, filename=filename)
    results: list[_Parsed] = []
    for done, (path, data) in enumerate(members, start=1):
        results.extend(_parse_person_file(data, path, today))
        if progress is not None:
            progress(done, total)

    # The sitting term: the latest of the mandates that cover `today` (none: no MEP of the archive
    # sits today, and nobody in it has left "during the term").
    sitting = max((r.term or 0 for r in results if r.record and not r.left), default=None)
    for result in results:
        # MEPs who left before the sitting term are not officials any more: neither their records
        # nor what is wrong with them (a UK MEP's country) concern anyone.
        if result.left and (sitting is None or (result.term or 0) < sitting):
            continue
        if result.error is not None:
            parsed.errors.append(result.error)
        if result.record is not None:
            parsed.records.append(result.record)
    return parsed
