"""CSV export of the directory: formula neutralisation, and a round trip through the CSV importer."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from contacts.export import EXPORT_COLUMNS, neutralise, restore, write_contacts_csv
from contacts.importers import parse_file
from contacts.importing import apply_plan, plan_import
from contacts.models import Contact, ContactChange, ContactEmail, ContactTag, Membership
from outreach.extensions import get_db
from tests.conftest import count_rows


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+32 2 284 21 11", "'+32 2 284 21 11"),
        ("-Council-", "'-Council-"),
        ("@mention", "'@mention"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("'=already quoted", "''=already quoted"),
        ("Anna Aalto", "Anna Aalto"),
        ("'plain quote", "'plain quote"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(value: str, cell: str) -> None:
    """=, +, -, @, tab and carriage return at the start are neutralised; restore undoes it."""
    assert neutralise(value) == cell
    assert restore(cell) == value


def test_neutralise_and_restore_are_exact_inverses_on_quote_runs() -> None:
    """Any run of quotes before a formula round-trips; a quote before plain text is left alone."""
    for quotes in range(4):
        for tail in ("=1", "x", "", "-"):
            value = "'" * quotes + tail
            assert restore(neutralise(value)) == value


def _directory(session: Session) -> None:
    session.add_all(
        [
            Contact(
                kind="mep",
                ep_id="256810",
                honorific="MR",
                given_name="Mika",
                family_name="Aaltola",
                display_name="Mika Aaltola",
                gender="MALE",
                country_code="FI",
                languages=["fi", "sv"],
                organisation="European Parliament",
                position="Member of the European Parliament",
                political_group="Group of the European People's Party (Christian Democrats)",
                political_group_short="EPP",
                national_party="Kansallinen Kokoomus",
                email="mika.aaltola@europarl.europa.eu",
                alternate_emails=[ContactEmail(address="m.aaltola@europarl.europa.eu")],
                term_start=date(2024, 7, 16),
                memberships=[
                    Membership(acronym="AFET", body_kind="committee", role="member"),
                    Membership(acronym="D-UK", body_kind="delegation", role="vice_chair"),
                ],
                tag_rows=[ContactTag(tag="ally"), ContactTag(tag="china-hearing")],
                offices=[{"place": "Brussels", "phone": "+32 2 28 45975"}],
                notes="Met in May.\nFollow up in June.",
            ),
            Contact(
                kind="minister",
                display_name='=HYPERLINK("http://evil.example","click")',
                position="+Minister",
                organisation="-Ministry",
                country_code="DE",
                languages=["de"],
                wikidata_id="Q564328",
                needs_review=True,
                review_reason="@check the name",
                notes="'=quoted already",
            ),
        ]
    )
    session.commit()


def _export(app: Flask) -> str:
    out = io.StringIO()
    with app.app_context(), get_db().transaction() as session:
        write_contacts_csv(session, out)
    return out.getvalue()


def test_export_neutralises_formula_cells_and_writes_every_column(
    app: Flask, db_session: Session
) -> None:
    """Every cell that begins with =, +, -, @ is quoted; seats, addresses, tags and offices are
    written in the columns the importer reads."""
    _directory(db_session)

    rows = list(csv.DictReader(io.StringIO(_export(app))))

    assert tuple(rows[0]) == EXPORT_COLUMNS
    mep, minister = rows
    assert mep["committees"] == "AFET:member"
    assert mep["delegations"] == "D-UK:vice_chair"
    assert (mep["email"], mep["alternate_emails"]) == (
        "mika.aaltola@europarl.europa.eu",
        "m.aaltola@europarl.europa.eu",
    )
    assert (mep["tags"], mep["languages"], mep["term_start"]) == (
        "ally;china-hearing",
        "fi;sv",
        "2024-07-16",
    )
    assert minister["display_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert (minister["position"], minister["organisation"]) == ("'+Minister", "'-Ministry")
    assert minister["review_reason"] == "'@check the name"
    assert minister["notes"] == "''=quoted already"
    assert minister["needs_review"] == "true"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_an_export_imports_back_as_unchanged(app: Flask, db_session: Session) -> None:
    """The exported CSV, read by the CSV importer and planned against the same directory, changes
    nothing: every contact is unchanged, formula-like values included."""
    _directory(db_session)
    data = _export(app).encode("utf-8")
    before = count_rows(app, ContactChange)

    with app.app_context(), get_db().transaction() as session:
        parsed = parse_file(data, filename="directory.csv")
        plan = plan_import(session, parsed)
        assert plan.errors == []
        assert [(p.display_name, p.changes) for p in plan.changed] == []
        assert plan.counts["unchanged"] == 2
        assert plan.counts["created"] == 0
        apply_plan(session, plan, actor="tester")

    assert count_rows(app, ContactChange) == before
    assert count_rows(app, Contact) == 2
