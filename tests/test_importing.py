"""The import engine (contacts.importing) against the real test database, SQLite or PostgreSQL.

Records are built directly (no parser), so each test says exactly what the file says.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.importing import (
    BUNDLED_MEP_SOURCE,
    FieldChange,
    ImportPlan,
    apply_plan,
    plan_import,
)
from contacts.models import (
    Contact,
    ContactChange,
    ContactEmail,
    ContactTag,
    ImportMapping,
    ImportRun,
    Membership,
)
from contacts.records import ContactRecord, ParsedFile, RowError, SeatRecord
from outreach.extensions import get_db
from tests.conftest import count_rows

TODAY = date(2026, 3, 1)


def mep(line: int, ep_id: str, family: str, **fields: Any) -> ContactRecord:
    """An MEP record as an EP file would give it."""
    values: dict[str, Any] = {
        "kind": "mep",
        "ep_id": ep_id,
        "given_name": "Anna",
        "family_name": family,
        "country_code": "FI",
        "emails": [f"anna.{family.lower()}@europarl.europa.eu"],
        "political_group_short": "EPP",
    }
    values.update(fields)
    return ContactRecord(line=line, **values)


def parsed(
    *records: ContactRecord,
    source_kind: str = "csv",
    complete_list_of: str | None = None,
    errors: list[RowError] | None = None,
) -> ParsedFile:
    return ParsedFile(
        source_kind=source_kind,
        filename=f"test.{source_kind}",
        records=list(records),
        errors=list(errors or []),
        complete_list_of=complete_list_of,
    )


def run(app: Flask, file: ParsedFile, **options: Any) -> ImportPlan:
    """Plan and apply in one transaction, committed; the plan."""
    with app.app_context(), get_db().transaction() as session:
        plan = plan_import(session, file, today=TODAY, **options)
        apply_plan(session, plan, actor="tester")
    return plan


def dry_run(app: Flask, file: ParsedFile, **options: Any) -> ImportPlan:
    with app.app_context(), get_db().transaction() as session:
        return plan_import(session, file, today=TODAY, **options)


def contact(session: Session, **where: Any) -> Contact:
    return session.scalars(select(Contact).filter_by(**where)).one()


def changes_of(plan: ImportPlan, name: str) -> list[FieldChange]:
    (planned,) = [p for p in plan.changed if p.display_name == name]
    return planned.changes


def test_records_are_classified_new_changed_unchanged_and_left_office_with_exact_diffs(
    app: Flask, db_session: Session
) -> None:
    """Against three MEPs from an earlier EP list, a complete list that changes one, repeats one,
    drops one and adds one plans exactly that, with the changed fields old and new."""
    run(
        app,
        parsed(
            mep(2, "1", "Aalto", memberships=[SeatRecord("AFET", "committee", "member")]),
            mep(3, "2", "Berg"),
            mep(4, "3", "Corte"),
            source_kind="ep_xml",
            complete_list_of="mep",
        ),
    )

    plan = dry_run(
        app,
        parsed(
            mep(
                2,
                "1",
                "Aalto",
                political_group_short="Renew",
                term_start=date(2024, 7, 16),
                memberships=[
                    SeatRecord("AFET", "committee", "vice_chair"),
                    SeatRecord("D-CN", "delegation", "member"),
                ],
            ),
            mep(3, "2", "Berg"),
            mep(5, "4", "Dahl", country_code="Sweden"),
            source_kind="ep_xml",
            complete_list_of="mep",
        ),
    )

    assert [p.display_name for p in plan.new] == ["Anna Dahl"]
    assert plan.new[0].values["country_code"] == "SE"
    assert plan.new[0].values["languages"] == ["sv"]
    assert changes_of(plan, "Anna Aalto") == [
        FieldChange("political_group_short", "EPP", "Renew"),
        FieldChange("term_start", None, date(2024, 7, 16)),
        FieldChange("memberships", ["AFET:member"], ["AFET:vice_chair", "D-CN:member"]),
    ]
    assert plan.unchanged == 1
    assert [(p.display_name, p.changes) for p in plan.left_office] == [
        (
            "Anna Corte",
            [FieldChange("active", True, False), FieldChange("term_end", None, TODAY)],
        )
    ]
    assert plan.counts == {
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "left_office": 1,
        "rejected": 0,
    }
    # A dry run writes nothing.
    assert count_rows(app, Contact) == 3
    assert count_rows(app, ImportRun) == 1


def test_apply_records_one_import_run_and_one_change_row_per_changed_field(
    app: Flask, db_session: Session
) -> None:
    """Applying writes an ImportRun with the counts (rejected included), a "created" change per new
    contact, one change per changed field with old and new as text, and stamps last_import_at."""
    first = run(app, parsed(mep(2, "1", "Aalto", term_start=date(2024, 7, 16))))
    assert first.counts["created"] == 1

    run(
        app,
        parsed(
            mep(2, "1", "Aalto", position="Quaestor", term_start=date(2024, 7, 17)),
            ContactRecord(line=3, given_name="No", family_name="Address", emails=["nope"]),
            errors=[RowError(4, "unreadable row")],
        ),
    )

    aalto = contact(db_session, ep_id="1")
    assert (aalto.position, aalto.term_start) == ("Quaestor", date(2024, 7, 17))
    assert aalto.last_import_at is not None
    assert aalto.source == "csv"
    runs = list(db_session.scalars(select(ImportRun).order_by(ImportRun.id)))
    assert [r.counts for r in runs] == [
        {"created": 1, "updated": 0, "unchanged": 0, "left_office": 0, "rejected": 0},
        {"created": 0, "updated": 1, "unchanged": 0, "left_office": 0, "rejected": 2},
    ]
    assert (runs[1].actor, runs[1].source_kind, runs[1].filename) == ("tester", "csv", "test.csv")
    history = db_session.execute(
        select(
            ContactChange.field,
            ContactChange.old_value,
            ContactChange.new_value,
            ContactChange.import_run_id,
            ContactChange.actor,
        ).order_by(ContactChange.id)
    ).all()
    assert [tuple(row) for row in history] == [
        ("created", None, "Anna Aalto", runs[0].id, "tester"),
        ("position", None, "Quaestor", runs[1].id, "tester"),
        ("term_start", "2024-07-16", "2024-07-17", runs[1].id, "tester"),
    ]


def test_new_contacts_get_the_languages_of_their_country_and_an_ok_address(
    app: Flask, db_session: Session
) -> None:
    """A new contact without languages gets its country's; with languages, the file's; its
    address status is ok; alternates, seats and tags are created with it."""
    run(
        app,
        parsed(
            mep(2, "1", "Aalto", emails=["a@example.org", "b@example.org"], tags=["ally"]),
            mep(3, "2", "Berg", country_code="BE", languages=["FR", "nl"], emails=None),
            mep(4, "3", "Corte", country_code=None, emails=None),
        ),
    )

    aalto = contact(db_session, ep_id="1")
    assert (aalto.languages, aalto.email, aalto.email_status) == (
        ["fi", "sv"],
        "a@example.org",
        "ok",
    )
    assert [e.address for e in aalto.alternate_emails] == ["b@example.org"]
    assert aalto.tags == ["ally"]
    assert contact(db_session, ep_id="2").languages == ["fr", "nl"]
    corte = contact(db_session, ep_id="3")
    assert (corte.languages, corte.country_code, corte.sendable) == (["en"], None, False)


def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    app: Flask, db_session: Session
) -> None:
    """The second apply of a file finds every record unchanged and writes no ContactChange, no
    seat, no address and no tag; contacts keep their updated_at."""
    file = parsed(
        mep(
            2,
            "1",
            "Aalto",
            emails=["Anna.AALTO@europarl.europa.eu", "aalto@example.org"],
            memberships=[SeatRecord("AFET", "committee", "member")],
            tags=["ally", "afet"],
            offices=[{"place": "Brussels", "phone": "+32 2 28 45975"}],
            notes="=SUM(A1:A2)",
            needs_review=False,
        ),
        ContactRecord(line=3, kind="minister", display_name="Hadja Lahbib", country_code="BE"),
        ContactRecord(line=4, display_name="Press office", organisation="Council"),
    )
    run(app, file)
    stamps = dict(db_session.execute(select(Contact.id, Contact.updated_at)).all())
    counts = [count_rows(app, model) for model in (ContactChange, Membership, ContactEmail)]

    again = run(app, file)

    assert again.counts == {
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "left_office": 0,
        "rejected": 0,
    }
    assert [count_rows(app, model) for model in (ContactChange, Membership, ContactEmail)] == counts
    assert count_rows(app, ContactTag) == 2
    db_session.expire_all()
    assert dict(db_session.execute(select(Contact.id, Contact.updated_at)).all()) == stamps
    assert count_rows(app, ImportRun) == 2


@pytest.mark.parametrize(
    ("record", "reason", "value"),
    [
        (ContactRecord(line=7, organisation="Council", emails=["x@example.org"]), "no name", None),
        (
            ContactRecord(line=7, display_name="Ann", emails=["ann@example"]),
            "invalid address",
            "ann@example",
        ),
        (
            ContactRecord(line=7, display_name="Ann", emails=["ann@example.org", "two words@x.eu"]),
            "invalid address",
            "two words@x.eu",
        ),
        (
            ContactRecord(line=7, display_name="Ann", country_code="Atlantis"),
            "unknown country",
            "Atlantis",
        ),
        (ContactRecord(line=7, display_name="Ann", kind="senator"), "unknown kind", "senator"),
    ],
)
def test_a_rejected_record_is_reported_with_its_line_and_the_rest_imports(
    app: Flask, db_session: Session, record: ContactRecord, reason: str, value: str | None
) -> None:
    """Each reason names the record's line and the offending value; the other records import."""
    plan = run(app, parsed(mep(2, "1", "Aalto"), record))

    assert plan.errors == [RowError(7, reason, value)]
    assert plan.counts["created"] == 1
    assert count_rows(app, Contact) == 1


def test_a_second_record_with_the_same_id_or_address_is_rejected_and_the_first_wins(
    app: Flask, db_session: Session
) -> None:
    """Same EP id, same Wikidata id (any case) or same primary address (any case) as an earlier
    record: "duplicate id" or "duplicate address" with the line of the first; the first imports."""
    plan = run(
        app,
        parsed(
            mep(2, "1", "Aalto", wikidata_id="Q1"),
            mep(3, "1", "Berg"),
            mep(4, "2", "Corte", wikidata_id="q1"),
            mep(5, "3", "Dahl", emails=["ANNA.AALTO@europarl.europa.eu"]),
            mep(6, "4", "Eriksson"),
        ),
    )

    assert plan.errors == [
        RowError(3, "duplicate id", "1, as on line 2"),
        RowError(4, "duplicate id", "Q1, as on line 2"),
        RowError(5, "duplicate address", "anna.aalto@europarl.europa.eu, as on line 2"),
    ]
    assert sorted(db_session.scalars(select(Contact.display_name))) == [
        "Anna Aalto",
        "Anna Eriksson",
    ]


def test_a_rejected_first_record_does_not_block_a_valid_second_one(
    app: Flask, db_session: Session
) -> None:
    """The first record that passes the checks wins: an invalid row does not claim its EP id."""
    plan = run(app, parsed(mep(2, "1", "Aalto", emails=["broken"]), mep(3, "1", "Aalto")))

    assert plan.errors == [RowError(2, "invalid address", "broken")]
    assert contact(db_session, ep_id="1").email == "anna.aalto@europarl.europa.eu"


def test_parser_errors_are_kept_in_line_order_with_the_engines(
    app: Flask, db_session: Session
) -> None:
    """Rows the parser rejected and rows the engine rejected come back together, by line."""
    plan = dry_run(
        app,
        parsed(
            ContactRecord(line=5, emails=["x@example.org"]),
            errors=[RowError(9, "bad date", "31/02"), RowError(3, "too many cells")],
        ),
    )
    assert [(e.line, e.reason) for e in plan.errors] == [
        (3, "too many cells"),
        (5, "no name"),
        (9, "bad date"),
    ]
    assert plan.counts["rejected"] == 3


def test_a_blank_value_never_erases_what_is_stored(app: Flask, db_session: Session) -> None:
    """None, an empty or blank string, and empty lists leave the stored values alone."""
    run(
        app,
        parsed(
            mep(
                2,
                "1",
                "Aalto",
                position="Member",
                notes="met in May",
                languages=["en"],
                offices=[{"place": "Brussels"}],
                tags=["ally"],
            )
        ),
    )

    plan = run(
        app,
        parsed(
            ContactRecord(
                line=2,
                ep_id="1",
                given_name="Anna",
                family_name="Aalto",
                position="",
                notes="   ",
                emails=[],
                languages=[],
                offices=[],
                tags=[],
                country_code=None,
            )
        ),
    )

    assert plan.counts["unchanged"] == 1
    aalto = contact(db_session, ep_id="1")
    assert (aalto.position, aalto.notes, aalto.email) == (
        "Member",
        "met in May",
        "anna.aalto@europarl.europa.eu",
    )
    assert (aalto.languages, aalto.offices, aalto.tags, aalto.country_code) == (
        ["en"],
        [{"place": "Brussels"}],
        ["ally"],
        "FI",
    )


def test_tags_and_alternate_addresses_from_a_file_are_added_never_removed(
    app: Flask, db_session: Session
) -> None:
    """A file's tags and other addresses join those already there; none is taken away, and a tag
    that differs only in case is not added twice."""
    run(app, parsed(mep(2, "1", "Aalto", tags=["ally", "afet"], emails=["a@x.eu", "b@x.eu"])))

    plan = run(
        app, parsed(mep(2, "1", "Aalto", tags=["ALLY", "china"], emails=["a@x.eu", "c@x.eu"]))
    )

    assert changes_of(plan, "Anna Aalto") == [
        FieldChange("alternate_emails", ["b@x.eu"], ["b@x.eu", "c@x.eu"]),
        FieldChange("tags", ["afet", "ally"], ["afet", "ally", "china"]),
    ]
    aalto = contact(db_session, ep_id="1")
    assert aalto.tags == ["afet", "ally", "china"]
    assert sorted(e.address for e in aalto.alternate_emails) == ["b@x.eu", "c@x.eu"]


def test_contacts_are_matched_by_ep_id_then_wikidata_id_then_any_address(
    app: Flask, db_session: Session
) -> None:
    """EP id wins over an address; a Wikidata id matches; an address matches a primary or an
    alternate address without regard to case. Matched contacts are updated, not duplicated."""
    db_session.add_all(
        [
            Contact(display_name="By EP id", ep_id="10", email="same@x.eu"),
            Contact(display_name="By Wikidata", wikidata_id="Q42"),
            Contact(
                display_name="By alternate",
                email="primary@x.eu",
                alternate_emails=[ContactEmail(address="Other@X.eu")],
            ),
        ]
    )
    db_session.commit()

    plan = run(
        app,
        parsed(
            ContactRecord(line=2, ep_id="10", display_name="Ten", emails=["ten@x.eu"]),
            ContactRecord(line=3, wikidata_id="q42", display_name="Douglas"),
            ContactRecord(line=4, display_name="Alt", emails=["other@x.EU"]),
        ),
    )

    assert (plan.counts["created"], plan.counts["updated"]) == (0, 3)
    db_session.expire_all()
    assert [c.display_name for c in db_session.scalars(select(Contact).order_by(Contact.id))] == [
        "Ten",
        "Douglas",
        "Alt",
    ]
    # The file's address is the primary one now; the one it replaces is kept as an alternate.
    alt = contact(db_session, display_name="Alt")
    assert alt.email == "other@x.EU"
    assert [e.address for e in alt.alternate_emails] == ["primary@x.eu"]


def test_ids_that_belong_to_two_contacts_reject_the_record(app: Flask, db_session: Session) -> None:
    """An EP id of one contact and the Wikidata id of another, or an address of a contact with
    another EP id: "conflicting ids", nothing written for that record."""
    db_session.add_all(
        [
            Contact(display_name="One", ep_id="1", email="one@x.eu"),
            Contact(display_name="Two", wikidata_id="Q2"),
        ]
    )
    db_session.commit()

    plan = dry_run(
        app,
        parsed(
            ContactRecord(line=2, display_name="Mixed", ep_id="1", wikidata_id="Q2"),
            ContactRecord(line=3, display_name="Other", ep_id="9", emails=["one@x.eu"]),
        ),
    )

    assert [(e.line, e.reason) for e in plan.errors] == [
        (2, "conflicting ids"),
        (3, "conflicting ids"),
    ]


def test_records_without_address_or_match_by_id_are_matched_by_name_and_organisation(
    app: Flask, db_session: Session
) -> None:
    """A file of officials without addresses imports twice without doubling them; a name that
    several contacts share is rejected as ambiguous rather than guessed."""
    file = parsed(
        ContactRecord(line=2, display_name="Jean Dupont", organisation="Council", position="Head"),
        ContactRecord(line=3, display_name="Marie Curie", organisation="Commission"),
    )
    run(app, file)
    db_session.add(Contact(display_name="marie curie", organisation="COMMISSION"))
    db_session.commit()

    again = run(
        app,
        parsed(
            ContactRecord(
                line=2, display_name="Jean Dupont", organisation="Council", position="Chief"
            ),
            ContactRecord(line=3, display_name="Marie Curie", organisation="Commission"),
        ),
    )

    assert again.counts["updated"] == 1
    assert [(e.line, e.reason) for e in again.errors] == [(3, "ambiguous name")]
    assert count_rows(app, Contact) == 3


def test_seats_change_only_where_they_differ(app: Flask, db_session: Session) -> None:
    """Seats compare as (acronym, role) sets: kept seats keep their rows, others are removed or
    added; a record without seats (None) keeps them; an empty list states there are none."""
    run(
        app,
        parsed(
            mep(
                2,
                "1",
                "Aalto",
                memberships=[
                    SeatRecord("AFET", "committee", "member"),
                    SeatRecord("DROI", "committee", "substitute"),
                ],
            )
        ),
    )
    afet_id = db_session.scalar(select(Membership.id).where(Membership.acronym == "AFET"))

    run(
        app,
        parsed(
            mep(
                2,
                "1",
                "Aalto",
                memberships=[
                    SeatRecord("AFET", "committee", "member"),
                    SeatRecord("D-CN", "delegation", "chair", start_date=date(2024, 9, 1)),
                ],
            )
        ),
    )
    seats = {m.acronym: m for m in db_session.scalars(select(Membership))}
    assert sorted(seats) == ["AFET", "D-CN"]
    assert seats["AFET"].id == afet_id
    assert (seats["D-CN"].body_kind, seats["D-CN"].role) == ("delegation", "chair")
    assert seats["D-CN"].start_date == date(2024, 9, 1)

    assert run(app, parsed(mep(2, "1", "Aalto", memberships=None))).unchanged == 1
    run(app, parsed(mep(2, "1", "Aalto", memberships=[])))
    assert count_rows(app, Membership) == 0


def test_a_new_primary_address_starts_ok_and_the_old_one_is_kept_as_an_alternate(
    app: Flask, db_session: Session
) -> None:
    """A bouncing address replaced by the file's: the new one is ok and no longer listed among the
    alternates; the old one becomes an alternate, still bouncing. An address differing only in
    case is not a change."""
    run(app, parsed(mep(2, "1", "Aalto", emails=["old@x.eu", "new@x.eu"])))
    aalto = contact(db_session, ep_id="1")
    aalto.email_status = "bouncing"
    db_session.commit()

    assert run(app, parsed(mep(2, "1", "Aalto", emails=["OLD@x.eu"]))).unchanged == 1
    plan = run(app, parsed(mep(2, "1", "Aalto", emails=["new@x.eu"])))

    assert changes_of(plan, "Anna Aalto") == [
        FieldChange("email", "old@x.eu", "new@x.eu"),
        FieldChange("email_status", "bouncing", "ok"),
        FieldChange("alternate_emails", ["new@x.eu"], ["old@x.eu"]),
    ]
    db_session.expire_all()
    aalto = contact(db_session, ep_id="1")
    assert (aalto.email, aalto.email_status) == ("new@x.eu", "ok")
    assert [(e.address, e.status) for e in aalto.alternate_emails] == [("old@x.eu", "bouncing")]


def test_left_office_touches_only_active_contacts_of_that_kind_from_the_same_list(
    app: Flask, db_session: Session
) -> None:
    """A complete EP list retires MEPs from EP lists (XML, API, the bundled copy) that it no longer
    has; MEPs made by hand or from a CSV, other kinds, and inactive contacts stay as they are.
    Nobody is deleted, and an MEP who comes back is active again."""
    db_session.add_all(
        [
            Contact(kind="mep", display_name="From XML", ep_id="1", source="ep_xml"),
            Contact(kind="mep", display_name="Bundled", ep_id="2", source=BUNDLED_MEP_SOURCE),
            Contact(kind="mep", display_name="By hand", ep_id="3", source=None),
            Contact(kind="mep", display_name="From CSV", ep_id="4", source="csv"),
            Contact(kind="minister", display_name="Minister", source="ep_xml"),
            Contact(
                kind="mep",
                display_name="Gone",
                ep_id="5",
                source="ep_xml",
                active=False,
                term_end=date(2025, 1, 1),
            ),
            Contact(
                kind="mep",
                display_name="Ended",
                ep_id="6",
                source="ep_xml",
                term_end=date(2025, 2, 1),
            ),
        ]
    )
    db_session.commit()
    file = parsed(
        ContactRecord(line=1, kind="mep", ep_id="5", display_name="Gone"),
        source_kind="ep_xml",
        complete_list_of="mep",
    )

    plan = run(app, file)

    assert sorted(p.display_name for p in plan.left_office) == ["Bundled", "Ended", "From XML"]
    db_session.expire_all()
    active = dict(db_session.execute(select(Contact.display_name, Contact.active)).all())
    assert active == {
        "From XML": False,
        "Bundled": False,
        "By hand": True,
        "From CSV": True,
        "Minister": True,
        "Gone": True,
        "Ended": False,
    }
    ends = dict(db_session.execute(select(Contact.display_name, Contact.term_end)).all())
    assert (ends["From XML"], ends["Bundled"]) == (TODAY, TODAY)
    assert ends["Ended"] == date(2025, 2, 1)  # a known end date is kept
    assert ends["Gone"] is None  # back in office
    assert count_rows(app, Contact) == 7
    # The same list again: nothing more to do.
    assert run(app, file).counts["left_office"] == 0


def test_a_csv_file_never_retires_anybody(app: Flask, db_session: Session) -> None:
    """Without complete_list_of, contacts missing from the file are not touched."""
    run(app, parsed(mep(2, "1", "Aalto"), mep(3, "2", "Berg")))
    plan = run(app, parsed(mep(2, "1", "Aalto")))
    assert plan.left_office == []
    assert db_session.scalar(select(func.count()).where(Contact.active.is_(False))) == 0


def test_formula_like_values_are_stored_as_text_exactly_as_given(
    app: Flask, db_session: Session
) -> None:
    """Values beginning with =, +, - or @ are stored as they are; only the quote an export put
    before such a value in a CSV cell is taken off."""
    run(
        app,
        parsed(
            ContactRecord(
                line=2,
                display_name='=HYPERLINK("http://evil")',
                position="+32 2 284 21 11",
                organisation="-Council-",
                notes="@mention",
                national_party="'=1+2",
                political_group="'plain",
            )
        ),
    )

    stored = db_session.scalars(select(Contact)).one()
    assert stored.display_name == '=HYPERLINK("http://evil")'
    assert (stored.position, stored.organisation, stored.notes) == (
        "+32 2 284 21 11",
        "-Council-",
        "@mention",
    )
    assert (stored.national_party, stored.political_group) == ("=1+2", "'plain")


def test_a_value_longer_than_its_column_is_rejected_not_a_failed_apply(
    app: Flask, db_session: Session
) -> None:
    """PostgreSQL would refuse the whole transaction; the engine rejects the row instead."""
    plan = run(app, parsed(mep(2, "1", "Aalto", gender="x" * 40), mep(3, "2", "Berg")))
    assert [(e.line, e.reason) for e in plan.errors] == [(2, "value too long")]
    assert count_rows(app, Contact) == 1


def test_update_existing_false_only_creates_missing_contacts(
    app: Flask, db_session: Session
) -> None:
    """A seed file (the bundled ministers) creates what is missing and leaves the rest alone."""
    run(app, parsed(mep(2, "1", "Aalto", position="Member")))
    plan = run(
        app,
        parsed(mep(2, "1", "Aalto", position="Chair"), mep(3, "2", "Berg")),
        update_existing=False,
    )
    assert (plan.counts["created"], plan.counts["unchanged"]) == (1, 1)
    assert contact(db_session, ep_id="1").position == "Member"


def test_apply_is_all_or_nothing(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the middle of applying (after the contacts were written) rolls the whole
    import back: the directory and its history are as they were."""
    run(app, parsed(mep(2, "1", "Aalto")))
    before = [count_rows(app, m) for m in (Contact, ContactChange, ImportRun, Membership)]

    import contacts.importing as importing

    def explode(*_args: Any) -> dict[str, Any]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(importing, "_seat_row", explode)
    file = parsed(
        mep(2, "1", "Aalto", position="Chair"),
        mep(3, "2", "Berg", memberships=[SeatRecord("AFET", "committee", "member")]),
    )
    with pytest.raises(RuntimeError, match="disk full"):
        run(app, file)

    assert [count_rows(app, m) for m in (Contact, ContactChange, ImportRun, Membership)] == before
    db_session.expire_all()
    assert contact(db_session, ep_id="1").position is None


def test_planning_reports_progress_up_to_the_total(app: Flask, db_session: Session) -> None:
    """The progress callback gets (done, total) every 1,000 steps and once at the end; a file of
    n records counts 2n steps (checking, then comparing)."""
    calls: list[tuple[int, int]] = []
    file = parsed(*(mep(i + 2, str(i), f"F{i}") for i in range(1500)))
    with app.app_context(), get_db().transaction() as session:
        plan_import(session, file, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (1000, 3000)
    assert calls[-1] == (3000, 3000)
    assert [done for done, _total in calls] == sorted(done for done, _total in calls)


def test_the_plan_digest_changes_when_what_it_would_write_changes(
    app: Flask, db_session: Session
) -> None:
    """Two dry runs of the same file against the same directory agree; a change in between
    changes the digest (the upload page compares them before applying)."""
    file = parsed(mep(2, "1", "Aalto"), mep(3, "2", "Berg"))
    run(app, parsed(mep(2, "1", "Aalto")))
    first, second = dry_run(app, file), dry_run(app, file)
    assert first.digest == second.digest
    run(app, parsed(mep(2, "1", "Aalto", position="Chair")))
    assert dry_run(app, parsed(mep(2, "1", "Aalto", position="Member"))).digest != first.digest


# --- the command line ----------------------------------------------------------------------------
CSV = """Name,E-mail,Country,Position,Tags
Anna Aalto,anna.aalto@example.org,FI,Member,ally
Bad Row,not-an-address,FI,,
Carl Corte,carl@example.org,Atlantis,,
"""


def test_cli_dry_run_prints_the_plan_and_changes_nothing(app: Flask, tmp_path: Path) -> None:
    """`flask contacts import FILE` prints the counts, the new contacts and every rejected row
    with its line, and writes nothing (no contact, no ImportRun)."""
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["contacts", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "Dry run of people.csv (csv): nothing was changed." in result.output
    assert "new: 1, changed: 0, unchanged: 0, left office: 0, rejected: 2" in result.output
    assert "line 2: Anna Aalto <anna.aalto@example.org>" in result.output
    assert "line 3: invalid address ('not-an-address')" in result.output
    assert "line 4: unknown country ('Atlantis')" in result.output
    assert "--apply" in result.output
    assert count_rows(app, Contact) == 0
    assert count_rows(app, ImportRun) == 0


def test_cli_apply_imports_and_a_second_dry_run_shows_the_field_diffs(
    app: Flask, tmp_path: Path
) -> None:
    """--apply writes the contacts and one ImportRun and prints its counts; a changed file's dry
    run lists each changed field, old and new."""
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8")
    runner = app.test_cli_runner()

    applied = runner.invoke(args=["contacts", "import", str(path), "--apply"])

    assert applied.exit_code == 0, applied.output
    assert "1 created, 0 updated, 0 unchanged, 0 left office, 2 rejected" in applied.output
    assert count_rows(app, Contact) == 1
    assert count_rows(app, ImportRun) == 1

    path.write_text(CSV.replace(",Member,", ",Chair,"), encoding="utf-8")
    again = runner.invoke(args=["contacts", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert "line 2: Anna Aalto (#" in again.output
    assert "      position: Member -> Chair" in again.output
    assert count_rows(app, ImportRun) == 1


def test_cli_refuses_a_malformed_file_with_one_line_and_changes_nothing(
    app: Flask, tmp_path: Path
) -> None:
    """A binary file or a file without a header: exit code 1, one "Error:" line, nothing written."""
    binary = tmp_path / "garbage.csv"
    binary.write_bytes(b"\x00\x01\x02 not text \xff\xfe")
    headerless = tmp_path / "numbers.csv"
    headerless.write_text("1,2,3\n4,5,6\n", encoding="utf-8")
    runner = app.test_cli_runner()

    for path in (binary, headerless):
        result = runner.invoke(args=["contacts", "import", str(path), "--apply"])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("Error: "), result.output
    assert count_rows(app, ImportRun) == 0
    assert count_rows(app, Contact) == 0


def test_cli_column_mapping_given_saved_and_reused(app: Flask, tmp_path: Path) -> None:
    """--map reads an unknown header as a field; --save-mapping stores it (only with --apply);
    --mapping NAME reuses it; an unknown saved mapping is an error."""
    path = tmp_path / "liste.csv"
    path.write_text("Qui,Adresse,Bureau\nJeanne Martin,jm@example.org,Bruxelles\n", "utf-8")
    runner = app.test_cli_runner()
    args = ["contacts", "import", str(path), "--map", "Qui=display_name", "--map", "Adresse=email"]

    dry = runner.invoke(args=[*args, "--save-mapping", "liste"])
    assert dry.exit_code == 0, dry.output
    assert "new: 1" in dry.output
    assert count_rows(app, ImportMapping) == 0

    applied = runner.invoke(args=[*args, "--save-mapping", "liste", "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "Saved the column mapping as 'liste'." in applied.output
    with app.app_context():
        saved = get_db().session.scalars(select(ImportMapping)).one()
        assert saved.mapping["Qui"] == "display_name"
        assert saved.mapping["Adresse"] == "email"

    reused = runner.invoke(args=["contacts", "import", str(path), "--mapping", "liste"])
    assert reused.exit_code == 0, reused.output
    assert "new: 0, changed: 0, unchanged: 1" in reused.output
    unknown = runner.invoke(args=["contacts", "import", str(path), "--mapping", "nope"])
    assert unknown.exit_code == 1
    assert "there is no saved mapping 'nope'" in unknown.output


def test_cli_export_writes_a_csv_that_imports_back_unchanged(app: Flask, tmp_path: Path) -> None:
    """`flask contacts export FILE.csv` writes every contact; importing that file changes nothing."""
    source = tmp_path / "people.csv"
    source.write_text(CSV, encoding="utf-8")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["contacts", "import", str(source), "--apply"]).exit_code == 0

    target = tmp_path / "export.csv"
    exported = runner.invoke(args=["contacts", "export", str(target)])
    assert exported.exit_code == 0, exported.output
    assert f"Exported 1 contacts to {target}" in exported.output

    again = runner.invoke(args=["contacts", "import", str(target)])
    assert again.exit_code == 0, again.output
    assert "new: 0, changed: 0, unchanged: 1, left office: 0, rejected: 0" in again.output


def test_a_record_whose_term_has_ended_is_recorded_inactive(app: Flask) -> None:
    """An official the source says left office (term_end in the past) is created or kept as
    inactive with that end date, so no audience reaches them; nothing is deleted."""
    from datetime import date

    from contacts.importing import apply_plan, plan_import
    from contacts.models import Contact
    from contacts.records import ContactRecord, ParsedFile

    parsed = ParsedFile(
        source_kind="ep_api",
        filename="left.tar.gz",
        records=[
            ContactRecord(
                line="epapi/1.json",
                kind="mep",
                given_name="Andrius",
                family_name="Example",
                ep_id="999001",
                emails=["andrius.example@europarl.europa.eu"],
                country_code="LT",
                term_end=date(2024, 11, 30),
            )
        ],
    )
    with app.app_context():
        session = get_db().factory()
        plan = plan_import(session, parsed, today=date(2025, 7, 11))
        apply_plan(session, plan, actor="test")
        session.commit()
        contact = session.scalars(select(Contact).where(Contact.ep_id == "999001")).one()
        assert contact.active is False
        assert contact.term_end == date(2024, 11, 30)
        assert not contact.sendable
        session.close()


def test_a_rejected_row_of_a_complete_list_does_not_retire_its_official(app: Flask) -> None:
    """A complete list whose row for an MEP is rejected (bad address) still names that MEP: they
    stay in office, while an MEP really missing from the list is retired."""
    from contacts.importing import apply_plan, plan_import
    from contacts.records import ContactRecord, ParsedFile

    def mep(n: int, email: str) -> ContactRecord:
        return ContactRecord(
            line=n, kind="mep", given_name=f"Given{n}", family_name=f"Family{n}",
            ep_id=f"88800{n}", emails=[email], country_code="FR",
        )  # fmt: skip

    first = ParsedFile(
        source_kind="ep_xml",
        filename="list1.xml",
        complete_list_of="mep",
        records=[mep(1, "one@example.org"), mep(2, "two@example.org"), mep(3, "three@example.org")],
    )
    second = ParsedFile(
        source_kind="ep_xml",
        filename="list2.xml",
        complete_list_of="mep",
        records=[mep(1, "one@example.org"), mep(2, "not an address")],
    )
    with app.app_context():
        session = get_db().factory()
        apply_plan(session, plan_import(session, first), actor="test")
        session.commit()
        plan = plan_import(session, second)
        assert [e.reason for e in plan.errors] == ["invalid address"]
        assert [p.display_name for p in plan.left_office] == ["Given3 Family3"]
        session.close()


def test_an_official_in_office_whose_record_now_has_a_past_term_end_is_retired(app: Flask) -> None:
    """The EP API lists an MEP who has left (term_end in the past): the existing active contact
    becomes inactive with that date; the dry run and the apply both work."""
    from datetime import date

    from contacts.importing import apply_plan, plan_import
    from contacts.models import Contact
    from contacts.records import ContactRecord, ParsedFile

    def record(term_end: date | None) -> ParsedFile:
        return ParsedFile(
            source_kind="ep_api",
            filename="api.tar.gz",
            records=[
                ContactRecord(
                    line="epapi/2.json", kind="mep", given_name="Ondine", family_name="Example",
                    ep_id="999002", emails=["ondine.example@europarl.europa.eu"],
                    country_code="CZ", term_end=term_end,
                )
            ],
        )  # fmt: skip

    with app.app_context():
        session = get_db().factory()
        apply_plan(session, plan_import(session, record(None)), actor="test")
        session.commit()
        plan = plan_import(session, record(date(2025, 1, 31)), today=date(2025, 7, 11))
        assert [(c.field, c.old, c.new) for c in plan.changed[0].changes] == [
            ("term_end", None, date(2025, 1, 31)),
            ("active", True, False),
        ]
        apply_plan(session, plan, actor="test")
        session.commit()
        contact = session.scalars(select(Contact).where(Contact.ep_id == "999002")).one()
        assert (contact.active, contact.term_end) == (False, date(2025, 1, 31))
        session.close()


def test_the_ep_api_sample_imports_on_top_of_the_bundled_directory(app: Flask) -> None:
    """The real EP API files (a sample) plan and apply over the bundled MEPs: matched by EP id,
    so no MEP is created twice; offices and second addresses are added; a second plan changes
    nothing."""
    from contacts.bundled import load_bundled
    from contacts.importers import parse_file
    from contacts.importing import apply_plan, plan_import
    from contacts.models import Contact

    sample = Path(__file__).parent / "data" / "importers" / "ep_api_sample.tar.gz"
    with app.app_context():
        session = get_db().factory()
        load_bundled(session)
        session.commit()
        before = session.scalar(select(func.count(Contact.id)))
        parsed = parse_file(sample, today=date(2025, 7, 11))
        plan = plan_import(session, parsed, today=date(2025, 7, 11))
        new_ids = {p.values.get("ep_id") for p in plan.new}
        apply_plan(session, plan, actor="test")
        session.commit()
        after = session.scalar(select(func.count(Contact.id)))
        again = plan_import(
            session, parse_file(sample, today=date(2025, 7, 11)), today=date(2025, 7, 11)
        )
        session.close()
    assert after == before + len(plan.new)
    # The two the bundled (current) list lacks are MEPs who left for the Commission: recorded
    # as inactive, never written to.
    assert new_ids == {"197843", "256854"}
    assert all(p.values.get("active") is False for p in plan.new)
    assert plan.counts["updated"] == 35
    assert not again.has_changes
