"""The parsers of contacts/importers: real EP files (cut down) and dirty files written for the tests.

The files are in tests/data/importers (sources and cuts in tests/data/ATTRIBUTION.md). Each test
states what a parser does with one kind of input; the records and errors are compared exactly.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from contacts.export import EXPORT_COLUMNS
from contacts.importers import (
    FIELD_NAMES,
    SUPPORTED_FORMATS,
    detect_format,
    detect_mapping,
    parse_file,
    split_ep_name,
)
from contacts.importers.archives import ArchiveLimits, iter_tar, iter_zip
from contacts.importers.common import EP_GROUPS
from contacts.importers.ep_api import org_acronyms
from contacts.records import ContactRecord, ImportFileError, ParsedFile, RowError, SeatRecord

DATA = Path(__file__).parent / "data" / "importers"
XML_SAMPLE = DATA / "ep_fulllist_term10_first150.xml"
API_TAR = DATA / "ep_api_sample.tar.gz"
API_ZIP = DATA / "ep_api_sample.zip"
SNAPSHOT = date(2025, 7, 11)  # the day the API files were fetched
EP = "European Parliament"
EPP = "Group of the European People's Party (Christian Democrats)"


def _by_ep_id(parsed: ParsedFile) -> dict[str, ContactRecord]:
    return {record.ep_id: record for record in parsed.records if record.ep_id}


def _committee(acronym: str, role: str, start: date | None = None) -> SeatRecord:
    return SeatRecord(acronym, "committee", role, start)


def _delegation(acronym: str, role: str, start: date | None = None) -> SeatRecord:
    return SeatRecord(acronym, "delegation", role, start)


# --- the EP's full-list XML ----------------------------------------------------------------------
def test_full_list_xml_gives_one_mep_record_per_element_and_is_the_complete_list() -> None:
    """150 elements give 150 MEP records numbered from 1, and the file is the complete MEP list."""
    parsed = parse_file(XML_SAMPLE)

    assert (parsed.source_kind, parsed.filename) == ("ep_xml", "ep_fulllist_term10_first150.xml")
    assert parsed.errors == []
    assert parsed.complete_list_of == "mep"
    assert [record.line for record in parsed.records] == list(range(1, 151))
    assert parsed.records[0] == ContactRecord(
        line=1,
        kind="mep",
        ep_id="256810",
        given_name="Mika",
        family_name="Aaltola",
        display_name="Mika Aaltola",
        country_code="FI",
        organisation=EP,
        political_group=EPP,
        political_group_short="EPP",
        national_party="Kansallinen Kokoomus",
    )


def test_full_list_xml_restores_family_names_only_where_the_case_is_certain() -> None:
    """Capitalised words are restored; particles, "Al-" and the like leave the family name None."""
    meps = _by_ep_id(parse_file(XML_SAMPLE))
    names = {
        ep_id: (meps[ep_id].given_name, meps[ep_id].family_name, meps[ep_id].display_name)
        for ep_id in ("257043", "256945", "256878", "197400", "28390", "257057", "124858")
    }

    assert names == {
        "257043": ("Maravillas", "Abadía Jover", "Maravillas Abadía Jover"),
        "256945": ("Irmhild", "Boßdorf", "Irmhild Boßdorf"),  # the EP writes BOẞDORF
        "256878": ("Marie-Luce", "Brasier-Clain", "Marie-Luce Brasier-Clain"),
        "197400": ("Abir", None, "Abir AL-SAHLANI"),
        "28390": ("Pilar", None, "Pilar DEL CASTILLO VERA"),  # "del Castillo Vera"
        "257057": ("João", None, "João COTRIM DE FIGUEIREDO"),  # "Cotrim De Figueiredo"
        "124858": ("Fabio", None, "Fabio DE MASI"),  # "De Masi"
    }


@pytest.mark.parametrize(
    ("full_name", "given", "family", "display"),
    [
        ("Ana Catarina MENDES", "Ana Catarina", "Mendes", "Ana Catarina Mendes"),
        ("Sakis ARNAOUTOGLOU", "Sakis", "Arnaoutoglou", "Sakis Arnaoutoglou"),
        ("David MCALLISTER", "David", "McAllister", "David McAllister"),
        ("Seán O'CONNOR", "Seán", "O'Connor", "Seán O'Connor"),
        ("Gaetano PEDULLA'", "Gaetano", "Pedulla'", "Gaetano Pedulla'"),
        ("Nicolae ŞTEFĂNUȚĂ", "Nicolae", "Ştefănuță", "Nicolae Ştefănuță"),  # letters kept
        ("Michael VON DER SCHULENBURG", "Michael", None, "Michael VON DER SCHULENBURG"),
        ("Brigitte VAN DEN BERG", "Brigitte", None, "Brigitte VAN DEN BERG"),
        ("Kathleen VAN BREMPT", "Kathleen", None, "Kathleen VAN BREMPT"),
        ("Diana RIBA I GINER", "Diana", None, "Diana RIBA I GINER"),
        ("Angus MACDONALD", "Angus", None, "Angus MACDONALD"),
        ("Valéry D'ORNANO", "Valéry", None, "Valéry D'ORNANO"),
        ("  Ana   Catarina  MENDES ", "Ana Catarina", "Mendes", "Ana Catarina Mendes"),
        ("ANA MENDES", None, None, "ANA MENDES"),  # no given name to tell where the split is
        ("Ana Mendes", None, None, "Ana Mendes"),  # no family name in capitals
    ],
)
def test_ep_name_is_split_at_the_capitals_and_never_guessed(
    full_name: str, given: str | None, family: str | None, display: str
) -> None:
    """The given name is copied; the family name's case is restored only when it is certain."""
    name = split_ep_name(full_name)

    assert (name.given, name.family, name.display) == (given, family, display)


def test_full_list_xml_maps_the_groups_to_the_nine_acronyms() -> None:
    """Each of the EP's group names becomes its acronym; all nine groups are in the sample."""
    groups = {(r.political_group, r.political_group_short) for r in parse_file(XML_SAMPLE).records}

    assert groups == set(EP_GROUPS.items())
    assert sorted(EP_GROUPS.values()) == sorted(
        ["EPP", "S&D", "PfE", "ECR", "Renew", "Greens/EFA", "The Left", "ESN", "NI"]
    )


def test_full_list_xml_rejects_elements_it_cannot_use_and_then_claims_no_completeness() -> None:
    """An unknown country, a missing id or name: RowErrors by element number; not complete."""
    xml = (
        b"<?xml version='1.0' encoding='UTF-8'?><meps>"
        b"<mep><fullName>Anne EXEMPLE</fullName><country>Atlantis</country><id>1</id></mep>"
        b"<mep><fullName>Bernd BEISPIEL</fullName><country>Germany</country></mep>"
        b"<mep><fullName> </fullName><country>France</country><id>3</id></mep>"
        b"<mep><fullName>Carla MUSTER</fullName><country>Austria</country><id>4</id>"
        b"<politicalGroup>A group formed tomorrow</politicalGroup></mep>"
        b"<mep><fullName>Dan X</fullName><country>Malta</country><id>5a</id></mep>"
        b"</meps>"
    )

    parsed = parse_file(xml, filename="list.xml")

    assert parsed.errors == [
        RowError(1, "unknown country", "Atlantis"),
        RowError(2, "no EP id", "Bernd BEISPIEL"),
        RowError(3, "no name", "3"),
        RowError(5, "the EP id is not a number", "5a"),
    ]
    # A group the table does not know keeps its name and has no acronym.
    assert parsed.records == [
        ContactRecord(
            line=4,
            kind="mep",
            ep_id="4",
            given_name="Carla",
            family_name="Muster",
            display_name="Carla Muster",
            country_code="AT",
            organisation=EP,
            political_group="A group formed tomorrow",
        )
    ]
    # The rejected MEPs are missing without having left office.
    assert parsed.complete_list_of is None


def test_broken_xml_is_refused_with_its_line_and_column() -> None:
    """Not well-formed XML: ImportFileError with the parser's line and (1-based) column."""
    with pytest.raises(ImportFileError) as raised:
        parse_file(DATA / "broken.xml")

    assert str(raised.value) == (
        "broken.xml: not well-formed XML at line 4, column 3: mismatched tag"
    )


def test_xml_with_entity_declarations_is_refused_before_any_expansion() -> None:
    """A "billion laughs" file is refused (defusedxml), not expanded."""
    with pytest.raises(ImportFileError, match=r"^bomb\.xml: refused: the XML declares a DTD"):
        parse_file(DATA / "bomb.xml")


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            b"<html><body/></html>",
            "list.xml: not the EP's full list of MEPs: the root element is <html>",
        ),
        (b"<meps></meps>", "list.xml: the list holds no <mep> element"),
    ],
)
def test_xml_that_is_not_a_list_of_meps_is_refused(xml: bytes, message: str) -> None:
    """Another XML document, or an empty list (which would retire every MEP), is refused."""
    with pytest.raises(ImportFileError) as raised:
        parse_file(xml, filename="list.xml")

    assert str(raised.value) == message


# --- the EP Open Data API ------------------------------------------------------------------------
AALTOLA = ContactRecord(
    source_ref="epapi/256810.json",
    kind="mep",
    honorific="MR",
    given_name="Mika",
    family_name="Aaltola",
    display_name="Mika Aaltola",
    gender="MALE",
    country_code="FI",
    organisation=EP,
    political_group=EPP,
    political_group_short="EPP",
    emails=["mika.aaltola@europarl.europa.eu"],
    offices=[
        {"place": "Brussels", "address": "ASP 06F164", "phone": "+3222845975"},
        {"place": "Strasbourg", "address": "LOW T08057", "phone": "+33388175975"},
    ],
    ep_id="256810",
    term_start=date(2024, 7, 16),
    memberships=[
        _committee("AFET", "member", date(2024, 7, 19)),
        _committee("EUDS", "member", date(2025, 1, 23)),
        _committee("INTA", "substitute", date(2024, 7, 19)),
        _delegation("D-UK", "vice_chair", date(2024, 10, 3)),
        _delegation("D-US", "substitute", date(2024, 9, 19)),
        _delegation("DEEA", "substitute", date(2025, 2, 5)),
    ],
)


def test_api_archive_gives_the_full_record_of_a_sitting_mep() -> None:
    """Names, title, gender, country, group, address, offices, mandate and current seats."""
    parsed = parse_file(API_TAR, today=SNAPSHOT)

    assert parsed.source_kind == "ep_api"
    assert _by_ep_id(parsed)["256810"] == AALTOLA


def test_api_tar_gz_zip_and_folder_give_the_same_records(tmp_path: Path) -> None:
    """The same 40 files as .tar.gz, .zip or an unpacked folder parse to the same records."""
    with tarfile.open(API_TAR) as archive:
        archive.extractall(tmp_path, filter="data")

    from_tar = parse_file(API_TAR, today=SNAPSHOT)
    from_zip = parse_file(API_ZIP, today=SNAPSHOT)
    from_folder = parse_file(tmp_path, today=SNAPSHOT)

    assert len(from_tar.records) == 38  # 40 files less the 2 MEPs of the 9th term only
    assert from_tar.errors == []
    assert from_zip.records == from_tar.records
    assert from_folder.records == from_tar.records
    assert from_zip.errors == from_folder.errors == []
    # Files of MEPs are not known to be the complete list: nobody is retired for missing.
    assert from_tar.complete_list_of is None


def test_api_mep_who_left_during_the_term_has_an_ended_mandate_no_seats_and_a_review_flag() -> None:
    """Left for the Commission: term_end set, seats emptied, flagged; nothing else said."""
    kubilius = _by_ep_id(parse_file(API_ZIP, today=SNAPSHOT))["197843"]

    assert kubilius == ContactRecord(
        source_ref="epapi/197843.json",
        kind="mep",
        honorific="MR",
        given_name="Andrius",
        family_name="Kubilius",
        display_name="Andrius Kubilius",
        gender="MALE",
        country_code="LT",
        organisation=EP,
        ep_id="197843",
        term_start=date(2024, 7, 16),
        term_end=date(2024, 11, 30),
        memberships=[],
        needs_review=True,
        review_reason="No longer an MEP: the mandate ended on 2024-11-30 (EP Open Data API).",
    )


def test_api_meps_of_earlier_terms_only_are_skipped_and_are_not_errors() -> None:
    """A UK MEP of the 9th term (country GBR) and a Latvian one give neither record nor error."""
    parsed = parse_file(API_ZIP, today=SNAPSHOT)

    assert {"204371", "256134"} & set(_by_ep_id(parsed)) == set()
    assert parsed.errors == []


def test_api_seats_and_mandates_are_the_ones_current_on_the_given_day() -> None:
    """On 2024-09-25 Aaltola was a D-UK member (not yet Vice-Chair) and not yet on EUDS or DEEA."""
    aaltola = _by_ep_id(parse_file(API_TAR, today=date(2024, 9, 25)))["256810"]

    assert aaltola.memberships == [
        _committee("AFET", "member", date(2024, 7, 19)),
        _committee("INTA", "substitute", date(2024, 7, 19)),
        SeatRecord("D-UK", "delegation", "member", date(2024, 9, 19), date(2024, 10, 2)),
        _delegation("D-US", "substitute", date(2024, 9, 19)),
    ]


def test_api_mandate_ending_after_today_is_current_until_its_last_day() -> None:
    """Kovařík's mandate ends 2025-07-30: sitting on the snapshot day and on that day, not after."""
    on_snapshot = _by_ep_id(parse_file(API_TAR, today=SNAPSHOT))["118949"]
    on_last_day = _by_ep_id(parse_file(API_TAR, today=date(2025, 7, 30)))["118949"]
    after = _by_ep_id(parse_file(API_TAR, today=date(2025, 7, 31)))["118949"]

    assert (on_snapshot.term_end, on_snapshot.needs_review) == (date(2025, 7, 30), None)
    assert [seat.acronym for seat in on_snapshot.memberships or []] == ["ECON", "TRAN", "DEEA"]
    assert on_last_day.needs_review is None
    assert (after.term_end, after.memberships, after.needs_review) == (date(2025, 7, 30), [], True)


def test_api_primary_address_is_the_fullest_form_and_addresses_are_never_rewritten() -> None:
    """Two addresses: the longer local part first; one differing only in case is kept as is."""
    meps = _by_ep_id(parse_file(API_ZIP, today=SNAPSHOT))

    assert meps["257071"].emails == [
        "carlamaria.nunestavares@europarl.europa.eu",
        "carla.tavares@europarl.europa.eu",
    ]
    assert meps["111412"].emails == [
        "villy.sovndal@europarl.europa.eu",
        "Villy.SOVNDAL@europarl.europa.eu",
    ]


def test_api_reads_the_data_as_published_even_where_it_is_odd() -> None:
    """Phones given only as a node id, a 10th-term mandate filed under the 9th, gender not known."""
    meps = _by_ep_id(parse_file(API_TAR, today=SNAPSHOT))

    # JSON-LD writes a phone node out once; elsewhere only its id "tel/003222845451" remains.
    assert meps["251324"].offices == [
        {"place": "Brussels", "address": "ASP 13E202", "phone": "+3222845451"},
        {"place": "Strasbourg", "address": "LOW T10042", "phone": "+33388175451"},
    ]
    assert meps["124858"].offices == [
        {"place": "Brussels", "address": "ATR 03K037", "phone": "+3222845544"},
        {"place": "Strasbourg", "address": "WIC M01032", "phone": "+33388175544"},
    ]
    mendia = meps["256994"]  # her mandate is filed under org/ep-9 but began on 2024-07-16
    assert (mendia.term_start, mendia.term_end, mendia.needs_review) == (
        date(2024, 7, 16),
        None,
        None,
    )
    berg = meps["256960"]  # gender NKN (not known), no honorific
    assert (berg.gender, berg.honorific, berg.political_group_short) == (None, None, "NI")
    assert meps["257138"].offices is None  # no contact point in the file


def test_api_committee_and_delegation_ids_map_to_the_bundled_acronyms() -> None:
    """The bundled mapping knows the 77 body ids, e.g. org/7005 is DROI and org/6611 is D-CN."""
    bodies = org_acronyms()

    assert len(bodies) == 77
    assert (bodies["org/7005"].acronym, bodies["org/6611"].acronym) == ("DROI", "D-CN")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_api_archive_without_any_sitting_mep_gives_no_records() -> None:
    """Only MEPs who have left (an old archive): there is no sitting term to have left during."""
    with zipfile.ZipFile(API_ZIP) as sample:
        gone = {
            name: sample.read(name)
            for name in ("epapi/197843.json", "epapi/256854.json", "epapi/204371.json")
        }

    parsed = parse_file(_zip(gone), filename="old.zip", today=SNAPSHOT)

    assert (parsed.records, parsed.errors) == ([], [])


def _person(*memberships: dict[str, object]) -> bytes:
    person = {"type": "Person", "identifier": "1", "givenName": "Anne", "familyName": "Exemple"}
    return json.dumps({"data": [{**person, "hasMembership": list(memberships)}]}).encode()


def test_api_person_with_no_mandate_is_an_error_and_one_not_yet_in_office_is_skipped() -> None:
    """No MEMBER_PARLIAMENT membership at all: RowError; a mandate starting later: no record."""
    mandate = {
        "role": "def/ep-roles/MEMBER_PARLIAMENT",
        "organization": "org/ep-10",
        "memberDuring": {"startDate": "2025-08-01"},
        "represents": ["http://publications.europa.eu/resource/authority/country/FRA"],
    }
    data = _zip({"epapi/1.json": _person(), "epapi/2.json": _person(mandate)})

    parsed = parse_file(data, filename="two.zip", today=SNAPSHOT)

    assert parsed.records == []
    assert parsed.errors == [RowError("epapi/1.json", "no parliamentary mandate", "1")]


def test_api_file_that_cannot_be_read_is_a_row_error_and_the_rest_is_still_read() -> None:
    """Bad JSON and JSON without a person: RowErrors named by path; other files import."""
    with zipfile.ZipFile(API_ZIP) as sample:
        good = sample.read("epapi/256810.json")
    data = _zip(
        {
            "epapi/256810.json": good,
            "epapi/bad.json": b'{"data": [',
            "epapi/other.json": b'{"data": [{"type": "Organization", "id": "org/1"}]}',
            "epapi/README.txt": b"not read",
            "__MACOSX/epapi/._256810.json": b"\x00\x05\x16\x07",
        }
    )

    parsed = parse_file(data, filename="upload.zip", today=SNAPSHOT)

    assert parsed.records == [AALTOLA]
    assert parsed.errors == [
        RowError("epapi/bad.json", "not valid JSON: Expecting value at line 1, column 11"),
        RowError("epapi/other.json", "not an EP API person record (no Person in data)"),
    ]


def test_zip_with_a_path_climbing_out_is_refused_whole() -> None:
    """A member named ../../outside.json: ImportFileError, nothing parsed."""
    with pytest.raises(ImportFileError) as raised:
        parse_file(DATA / "path_traversal.zip")

    assert str(raised.value) == (
        "path_traversal.zip: refused: a path in the archive climbs out of it ('../../outside.json')"
    )


def _tar(add: Callable[[tarfile.TarFile], None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        add(archive)
    return buffer.getvalue()


def _add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _add_link(archive: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    archive.addfile(info)


@pytest.mark.parametrize(
    ("add", "message"),
    [
        (
            lambda archive: _add_file(archive, "/etc/cron.d/x.json", b"{}"),
            "upload.tar.gz: refused: the archive holds an absolute path ('/etc/cron.d/x.json')",
        ),
        (
            lambda archive: _add_file(archive, "epapi/../../x.json", b"{}"),
            "upload.tar.gz: refused: a path in the archive climbs out of it ('epapi/../../x.json')",
        ),
        (
            lambda archive: _add_link(archive, "epapi/1.json", "/etc/passwd"),
            "upload.tar.gz: refused: the archive holds a link ('epapi/1.json' -> '/etc/passwd')",
        ),
    ],
)
def test_tar_with_an_absolute_path_a_climbing_path_or_a_link_is_refused(
    add: Callable[[tarfile.TarFile], None], message: str
) -> None:
    """Each hostile tar entry refuses the whole archive with a message that names it."""
    with pytest.raises(ImportFileError) as raised:
        parse_file(_tar(add), filename="upload.tar.gz")

    assert str(raised.value) == message


def test_archives_past_the_size_limits_are_refused_as_bombs() -> None:
    """Declared or actual uncompressed sizes over the limits refuse the archive."""
    small = ArchiveLimits(max_total_bytes=100_000, max_file_bytes=20_000)

    with pytest.raises(
        ImportFileError, match=r"declares 340,087 bytes uncompressed, more than 100,000"
    ):
        list(iter_zip(API_ZIP.read_bytes(), (".json",), filename="api.zip", limits=small))
    one_file = ArchiveLimits(max_file_bytes=15_000)
    with pytest.raises(ImportFileError, match=r"is larger than 15,000 bytes uncompressed"):
        list(iter_tar(API_TAR, (".json",), filename="api.tar.gz", limits=one_file))
    # A tar stream declares nothing in advance: the bytes read are counted as they come.
    with pytest.raises(ImportFileError, match=r"holds more than 100,000 bytes uncompressed"):
        list(iter_tar(API_TAR, (".json",), filename="api.tar.gz", limits=small))


def test_archive_with_more_files_than_any_ep_data_set_is_refused() -> None:
    """10,001 members: refused before any is parsed."""
    data = _zip({f"epapi/{n}.json": b"" for n in range(10_001)})

    with pytest.raises(ImportFileError) as raised:
        parse_file(data, filename="many.zip")

    assert str(raised.value) == "many.zip: refused: the archive holds more than 10,000 files"


def test_api_progress_counts_files_with_a_total_for_zip_and_none_for_tar() -> None:
    """A zip's member count is known in advance; a tar stream's is not."""
    zip_calls: list[tuple[int, int | None]] = []
    tar_calls: list[tuple[int, int | None]] = []

    parse_file(
        API_ZIP, today=SNAPSHOT, progress=lambda done, total: zip_calls.append((done, total))
    )
    parse_file(
        API_TAR, today=SNAPSHOT, progress=lambda done, total: tar_calls.append((done, total))
    )

    assert zip_calls == [(n, 40) for n in range(1, 41)]
    assert tar_calls == [(n, None) for n in range(1, 41)]


# --- CSV -----------------------------------------------------------------------------------------
GREENS = "Group of the Greens/European Free Alliance"


def test_csv_with_bom_title_rows_semicolons_and_quoted_line_breaks() -> None:
    """Lines are the file's physical lines; formulas stay text; broken rows are rejected.

    The file: two title lines, the header on line 3, a row whose notes run over lines 4-5, an
    empty row (6), a row without a name (8), a formula as address (9), a duplicate of line 4 (10,
    left for the engine to reject), a row with an extra cell (11), a misplaced quote (12), and
    cells that begin with @ and - (13).
    """
    parsed = parse_file(DATA / "dirty_semicolon_bom.csv")

    assert parsed.source_kind == "csv"
    assert parsed.records == [
        ContactRecord(
            line=4,
            given_name="Élodie",
            family_name="Bérégovoy",
            emails=["elodie.beregovoy@example.org"],
            country_code="FR",
            political_group=EPP,
            political_group_short="EPP",
            memberships=[_committee("AFET", "member"), _committee("DROI", "vice_chair")],
            notes='Rencontrée en mars.\nÀ rappeler : "urgent"',
        ),
        ContactRecord(
            line=7,
            given_name="Jürgen",
            family_name="Straß",
            emails=["juergen.strass@example.org"],
            country_code="Germany",  # as given: the engine normalises countries
            political_group=GREENS,
            political_group_short="Greens/EFA",
        ),
        ContactRecord(
            line=9,
            given_name="Anne",
            family_name="Exemple",
            emails=['=HYPERLINK("mailto:anne@example.org")'],
            country_code="FR",
            political_group="Renew Europe Group",
            political_group_short="Renew",
            notes="+33 1 40 63 60 00",
        ),
        ContactRecord(
            line=10,
            given_name="Élodie",
            family_name="Bérégovoy",
            emails=["elodie.beregovoy@example.org"],
            country_code="FR",
            political_group=EPP,
            political_group_short="EPP",
            notes="doublon de la ligne 4",
        ),
        ContactRecord(
            line=13,
            given_name="@nadia",
            family_name="-Durand",
            emails=["@nadia"],
            country_code="FR",
            notes="-- à vérifier",
        ),
    ]
    assert parsed.errors == [
        RowError(8, "no name", "sans.nom@example.org"),
        RowError(11, "8 cells, but the header has 7 columns", "colonne en trop"),
        RowError(12, "malformed quoting (';' expected after '\"')"),
    ]


def test_windows_1252_csv_with_german_headers_where_name_is_the_family_name() -> None:
    """é, ß and ë decode from Windows-1252; "Name" beside "Vorname" is the family name."""
    parsed = parse_file(DATA / "cp1252_comma.csv")

    assert parsed.errors == []
    assert parsed.records == [
        ContactRecord(
            line=2,
            given_name="Jürgen",
            family_name="Straß",
            emails=["juergen.strass@example.org"],
            country_code="DE",
            national_party="SPD",
            notes="Büro in Brüssel, 3. Stock",
        ),
        ContactRecord(
            line=3,
            given_name="Élodie",
            family_name="Bérégovoy",
            emails=["elodie@example.fr"],
            country_code="France",
            national_party="PS",
            notes="+33 1 40 63 60 00",
        ),
        ContactRecord(
            line=5, given_name="Zoë", family_name="Weiß", country_code="AT", notes="=1+1"
        ),
    ]


def test_csv_quote_never_closed_is_one_error_spanning_the_rest_of_the_file() -> None:
    """The unclosed quote swallows lines 3-4: one RowError at line 3 says so; line 2 imports."""
    parsed = parse_file(DATA / "unterminated_quote.csv")

    assert parsed.records == [
        ContactRecord(line=2, display_name="Anne Exemple", emails=["anne@example.org"])
    ]
    assert parsed.errors == [
        RowError(3, "a quoted cell is never closed: lines 3 to 4 are one cell"),
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "no_header.csv",
            "no_header.csv: no header row found in the first 20 rows: a header names the "
            "columns, with at least a name column (e.g. 'Name', 'First name' and 'Last name', "
            "'Nom', 'Prénom', 'Vorname', 'Nachname') and one more (e.g. 'E-mail'); or give a "
            "column mapping",
        ),
        (
            "binary_named.csv",
            "binary_named.csv: not a text file: control byte 0x1A at offset 6 (a spreadsheet "
            "saved in another format? Save it as CSV, or upload the .xlsx)",
        ),
        (
            "neither_encoding.csv",
            "neither_encoding.csv: neither UTF-8 (byte 0x81 at offset 16) nor Windows-1252 "
            "(byte 0x81 at offset 16) text",
        ),
    ],
)
def test_csv_that_cannot_be_read_as_a_whole_is_refused_with_the_reason(
    name: str, message: str
) -> None:
    """No header, a binary file, an unknown encoding: ImportFileError naming what is wrong."""
    with pytest.raises(ImportFileError) as raised:
        parse_file(DATA / name)

    assert str(raised.value) == message


def test_utf16_csv_with_a_byte_order_mark_and_tabs_reads_like_any_other() -> None:
    """Excel's "Unicode text": UTF-16 with BOM and tabs; a repeated header row is skipped."""
    text = (
        "Full name\tE-mail\r\nZoë Weiß\tzoe@example.org\r\nFull name\tE-mail\r\nAl B\tal@b.eu\r\n"
    )
    data = b"\xff\xfe" + text.encode("utf-16-le")

    parsed = parse_file(data, filename="export.txt")

    assert parsed.records == [
        ContactRecord(line=2, display_name="Zoë Weiß", emails=["zoe@example.org"]),
        ContactRecord(line=4, display_name="Al B", emails=["al@b.eu"]),
    ]


def test_csv_values_that_are_not_what_their_column_needs_reject_the_row() -> None:
    """A date, a yes/no or the offices' JSON that cannot be read: RowError with the cell."""
    data = (
        b"display_name,term_start,needs_review,offices\n"
        b"A,03/04/2024,,\n"
        b"B,,maybe,\n"
        b"C,,,Brussels\n"
        b"D,2024-07-16,yes,[]\n"
    )

    parsed = parse_file(data, filename="x.csv")

    assert parsed.errors == [
        RowError(2, "term_start: not a date (YYYY-MM-DD)", "03/04/2024"),
        RowError(3, "needs_review: not yes or no", "maybe"),
        RowError(4, "offices: not a JSON list of offices", "Brussels"),
    ]
    assert parsed.records == [
        ContactRecord(
            line=5, display_name="D", term_start=date(2024, 7, 16), needs_review=True, offices=[]
        )
    ]


def test_csv_export_of_the_directory_imports_back_field_for_field() -> None:
    """Every column contacts.export writes is recognised; the neutralising quote stays for the
    engine to take off; seats use the model's role names."""
    row = {
        "kind": "mep",
        "display_name": "Mika Aaltola",
        "honorific": "MR",
        "given_name": "Mika",
        "family_name": "Aaltola",
        "gender": "MALE",
        "country_code": "FI",
        "languages": "fi;sv",
        "organisation": EP,
        "position": "Member of the European Parliament",
        "political_group": EPP,
        "political_group_short": "EPP",
        "national_party": "Kansallinen Kokoomus",
        "email": "mika.aaltola@europarl.europa.eu",
        "alternate_emails": "m.aaltola@example.org;mika@example.org",
        "ep_id": "256810",
        "wikidata_id": "Q5963133",
        "term_start": "2024-07-16",
        "term_end": "",
        "committees": "AFET:member;INTA:substitute",
        "delegations": "D-UK:vice_chair",
        "tags": "china-hearing;ally",
        "offices": '[{"place": "Brussels", "address": "ASP 06F164"}]',
        "notes": "'=SUM(A1)",
        "needs_review": "false",
        "review_reason": "",
    }
    assert list(row) == list(EXPORT_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(row.keys())
    writer.writerow(row.values())

    parsed = parse_file(buffer.getvalue().encode(), filename="directory.csv")

    assert parsed.errors == []
    assert parsed.records == [
        ContactRecord(
            line=2,
            kind="mep",
            display_name="Mika Aaltola",
            honorific="MR",
            given_name="Mika",
            family_name="Aaltola",
            gender="MALE",
            country_code="FI",
            languages=["fi", "sv"],
            organisation=EP,
            position="Member of the European Parliament",
            political_group=EPP,
            political_group_short="EPP",
            national_party="Kansallinen Kokoomus",
            emails=[
                "mika.aaltola@europarl.europa.eu",
                "m.aaltola@example.org",
                "mika@example.org",
            ],
            ep_id="256810",
            wikidata_id="Q5963133",
            term_start=date(2024, 7, 16),
            memberships=[
                _committee("AFET", "member"),
                _committee("INTA", "substitute"),
                _delegation("D-UK", "vice_chair"),
            ],
            tags=["china-hearing", "ally"],
            offices=[{"place": "Brussels", "address": "ASP 06F164"}],
            notes="'=SUM(A1)",
            needs_review=False,
        )
    ]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["First name", "Last name", "E-mail address", "Country", "Party", "Group", "Job title"],
            {
                "First name": "given_name",
                "Last name": "family_name",
                "E-mail address": "email",
                "Country": "country_code",
                "Party": "national_party",
                "Group": "political_group",
                "Job title": "position",
            },
        ),
        (
            ["Civilité", "Prénom", "Nom", "Courriel", "Pays", "Fonction", "Commissions", "Langues"],
            {
                "Civilité": "honorific",
                "Prénom": "given_name",
                "Nom": "family_name",
                "Courriel": "email",
                "Pays": "country_code",
                "Fonction": "position",
                "Commissions": "committees",
                "Langues": "languages",
            },
        ),
        (
            ["Anrede", "Vorname", "Nachname", "E-Mail-Adresse", "Fraktion", "Geschlecht", "Notizen"],
            {
                "Anrede": "honorific",
                "Vorname": "given_name",
                "Nachname": "family_name",
                "E-Mail-Adresse": "email",
                "Fraktion": "political_group",
                "Geschlecht": "gender",
                "Notizen": "notes",
            },
        ),
        # "Nom" alone is the whole name; so is "Name" without a given-name column.
        (["Nom", "Email"], {"Nom": "display_name", "Email": "email"}),
        (["Name", "Organisation", "Tags"], {"Name": "display_name", "Organisation": "organisation", "Tags": "tags"}),
        # The bundled ministers' file: words of unknown headers; Wikidata ids only from id columns.
        (
            ["country_code", "country", "minister_name", "wikidata_person", "position_title",
             "wikidata_position", "start_date_wikidata", "snapshot"],
            {
                "country_code": "country_code",
                "country": "country_code",
                "minister_name": "display_name",
                "wikidata_person": "wikidata_id",
                "position_title": "position",
            },
        ),
        (["EP id", "Wikidata ID", "MEP", "Delegations"], {"EP id": "ep_id", "Wikidata ID": "wikidata_id", "MEP": "display_name", "Delegations": "delegations"}),
        (["fullName", "workEmail", "Notes about this person and the last meeting"], {"fullName": "display_name", "workEmail": "email"}),
    ],
)  # fmt: skip
def test_detect_mapping_recognises_common_english_french_and_german_headers(
    headers: list[str], expected: dict[str, str]
) -> None:
    """The mapping the UI shows: exact names first, then the words of a short header."""
    assert detect_mapping(headers) == expected


def test_detect_mapping_knows_every_export_column() -> None:
    """The export's columns map to themselves, the alternates to the address list."""
    mapping = detect_mapping(EXPORT_COLUMNS)

    assert mapping == {
        column: ("emails" if column == "alternate_emails" else column) for column in EXPORT_COLUMNS
    }
    assert set(mapping.values()) <= set(FIELD_NAMES)


def test_mapping_completes_and_overrides_the_detected_columns() -> None:
    """Unknown headers become usable, a detected column can be re-mapped or ignored."""
    data = (
        "Abgeordnete(r);Kontakt;Fonction officielle;Notes\n"
        "Zoë Weiß;zoe@example.org;Ministerin;interne Notiz\n"
    ).encode()
    mapping = {
        "Abgeordnete(r)": "display_name",
        "kontakt": "email",  # matched without case
        "Fonction officielle": "position",
        "Notes": "",  # not imported
        "A column of another file": "tags",  # a saved mapping may name more columns
    }

    parsed = parse_file(data, filename="liste.csv", mapping=mapping)

    assert parsed.records == [
        ContactRecord(
            line=2, display_name="Zoë Weiß", emails=["zoe@example.org"], position="Ministerin"
        )
    ]


def test_mapping_of_one_column_is_enough_to_find_an_unrecognised_header() -> None:
    """Headers nobody recognises: the column staff mapped to a name makes the row the header."""
    data = "Titre de la liste\nAbgeordnete(r);Bureau\nZoë Weiß;ASP 01\n".encode()

    parsed = parse_file(data, filename="liste.csv", mapping={"Abgeordnete(r)": "display_name"})

    assert parsed.records == [ContactRecord(line=3, display_name="Zoë Weiß")]


def test_mapping_to_an_unknown_field_is_refused() -> None:
    """A typo in a saved mapping is an error, not a column silently dropped."""
    with pytest.raises(ImportFileError, match=r"unknown field 'e_mail' \(for 'Mail'\)"):
        parse_file(b"Name,Mail\nA,a@b.eu\n", filename="x.csv", mapping={"Mail": "e_mail"})


def test_csv_progress_reports_lines_with_the_file_s_line_count() -> None:
    """Progress goes by physical lines, up to the total, so a bar can show a share."""
    calls: list[tuple[int, int | None]] = []

    parse_file(DATA / "unterminated_quote.csv", progress=lambda d, t: calls.append((d, t)))

    assert calls == [(1, 4), (2, 4), (4, 4)]


# --- XLSX ----------------------------------------------------------------------------------------
def _workbook_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "Read me"
    notes["A1"] = "Contacts are on the next sheet."
    sheet = workbook.create_sheet("Contacts")
    sheet["A1"] = "China hearing 2026: invitations"
    sheet.append([])
    sheet.append(["Name", "E-mail", "EP id", "Term start", "Phone", "Notes"])
    sheet.append(
        [
            "Mika Aaltola",
            '=HYPERLINK("mailto:mika.aaltola@europarl.europa.eu","mika.aaltola@europarl.europa.eu")',
            256810,
            date(2024, 7, 16),
            "+358 9 123",
            None,
        ]
    )
    sheet.append([])
    sheet.append([None, "nobody@example.org", None, None, None, "no name here"])
    sheet.append(["Zoë Weiß", "zoe@example.org", None, None, None, "=1+1"])
    sheet["F7"].data_type = "s"  # typed as text in the sheet, not a formula
    sheet.append(["=A4", None, 257043.0, None, "@zoe", "-"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_reads_the_first_sheet_with_a_header_and_numbers_rows_as_the_sheet_does() -> None:
    """Title and empty rows are skipped; rows keep the sheet's numbers; formulas never computed
    (a file written by a script) give their formula text; numbers and dates become text/dates."""
    parsed = parse_file(_workbook_bytes(), filename="invitations.xlsx")

    assert parsed.source_kind == "xlsx"
    assert parsed.records == [
        ContactRecord(
            line=4,
            source_ref="Contacts",
            display_name="Mika Aaltola",
            emails=[
                '=HYPERLINK("mailto:mika.aaltola@europarl.europa.eu",'
                '"mika.aaltola@europarl.europa.eu")'
            ],
            ep_id="256810",
            term_start=date(2024, 7, 16),
        ),
        ContactRecord(
            line=7,
            source_ref="Contacts",
            display_name="Zoë Weiß",
            emails=["zoe@example.org"],
            notes="=1+1",
        ),
        ContactRecord(line=8, source_ref="Contacts", display_name="=A4", ep_id="257043", notes="-"),
    ]
    assert parsed.errors == [RowError(6, "no name", "nobody@example.org")]


def test_xlsx_formula_gives_the_value_the_spreadsheet_saved_with_it() -> None:
    """A workbook saved by Excel or LibreOffice carries each formula's result: that is used."""
    data = _workbook_bytes()
    source = io.BytesIO(data)
    out = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(out, "w") as patched:
        for item in original.infolist():
            content = original.read(item)
            if item.filename == "xl/worksheets/sheet2.xml":
                text = content.decode()
                # What a spreadsheet program writes: the formula and its cached string result.
                text = re.sub(
                    r'<c r="B4"><f>(.*?)</f><v\s*/>',
                    r'<c r="B4" t="str"><f>\1</f><v>mika.aaltola@europarl.europa.eu</v>',
                    text,
                )
                text = re.sub(
                    r'<c r="A8"><f>A4</f><v\s*/>',
                    r'<c r="A8" t="str"><f>A4</f><v>Mika Aaltola</v>',
                    text,
                )
                assert text.count("<v>") >= 2
                content = text.encode()
            patched.writestr(item, content)

    parsed = parse_file(out.getvalue(), filename="saved.xlsx")

    assert parsed.records[0].emails == ["mika.aaltola@europarl.europa.eu"]
    assert parsed.records[2].display_name == "Mika Aaltola"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
            "old.xlsx: an old Excel workbook (.xls): save it as .xlsx or CSV first",
        ),
        (b"Name,Email\n", "old.xlsx: not an XLSX workbook"),
    ],
)
def test_file_named_xlsx_that_is_not_a_workbook_is_refused(data: bytes, message: str) -> None:
    """An .xls (OLE) file or a text file named .xlsx: ImportFileError."""
    with pytest.raises(ImportFileError) as raised:
        parse_file(data, filename="old.xlsx")

    assert str(raised.value) == message


# --- parse_file ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filename", "source", "expected"),
    [
        ("list.xml", b"<meps/>", "ep_xml"),
        ("256810.json", b"{}", "ep_api"),
        ("meps.tar.gz", b"", "ep_api"),
        ("meps.tgz", b"", "ep_api"),
        ("meps.zip", API_ZIP.read_bytes(), "ep_api"),
        ("book.zip", None, "xlsx"),  # an XLSX workbook under a .zip name
        ("contacts.csv", b"", "csv"),
        ("contacts.txt", b"", "csv"),
        ("contacts.tsv", b"", "csv"),
        ("book.xlsx", b"", "xlsx"),
        # Without a known ending, the first bytes decide.
        ("upload", b"\xef\xbb\xbf<?xml version='1.0'?><meps/>", "ep_xml"),
        ("upload", b'{"data": []}', "ep_api"),
        ("upload", API_TAR.read_bytes(), "ep_api"),
        ("upload", None, "xlsx"),
        ("upload", b"Name;Email\n", "csv"),
    ],
)
def test_format_is_detected_from_the_name_then_from_the_content(
    filename: str, source: bytes | None, expected: str
) -> None:
    """.xml, .json/.tar.gz/.tgz/.zip, .csv/.txt/.tsv, .xlsx; else the magic bytes."""
    data = _workbook_bytes() if source is None else source

    assert detect_format(data, filename) == expected
    assert expected in SUPPORTED_FORMATS


def test_parse_file_takes_a_path_as_text_a_folder_or_bytes_and_a_forced_format(
    tmp_path: Path,
) -> None:
    """A str path works like a Path; `format` overrides the name; bad inputs are file errors."""
    renamed = tmp_path / "meps.dat"
    renamed.write_bytes(XML_SAMPLE.read_bytes())

    assert len(parse_file(str(renamed)).records) == 150
    assert (
        parse_file(renamed.read_bytes(), filename="x.csv", format="ep_xml").source_kind == "ep_xml"
    )
    with pytest.raises(ImportFileError, match="unknown format 'pdf'"):
        parse_file(renamed, format="pdf")
    with pytest.raises(ImportFileError, match="no such file or folder"):
        parse_file(tmp_path / "missing.csv")
    with pytest.raises(ImportFileError, match="a folder can only hold EP API files"):
        parse_file(tmp_path, format="csv")
