"""The bundled directory (contacts/data) loaded into a fresh SQLite database and read back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session

# Imported for their tables: create_all must make every table and FK target.
import outreach.accounts.models
import outreach.campaigns.models  # noqa: F401
from contacts.base import Base
from contacts.bundled import (
    MEP_POSITION,
    MINISTER_REVIEW_REASON,
    MINISTER_SOURCE,
    LoadReport,
    load_bundled,
    parse_role,
)
from contacts.models import (
    Contact,
    ContactChange,
    ContactEmail,
    ImportRun,
    Membership,
    MembershipRole,
)

MEPS = 719
LEADERS_NOT_MEPS = 2  # the Presidents of the Commission and of the European Council
EP_LEADERS = 20  # the EP President, 14 Vice-Presidents and 5 Quaestors, all of them MEPs
MINISTERS = 27  # the EU foreign ministers of December 2022, without addresses
CONTACTS = MEPS + LEADERS_NOT_MEPS + MINISTERS
SEATS = 4175  # 2,258 committee and 1,917 delegation seats in meps_term10.csv


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'bundled.db'}")

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _load(engine: Engine) -> LoadReport:
    with Session(engine) as session:
        report = load_bundled(session)
        session.commit()
    return report


def _count(session: Session, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(Contact).where(*where)) or 0


def _seat_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Membership)) or 0


def _contact(session: Session, ep_id: str) -> Contact:
    return session.scalars(select(Contact).where(Contact.ep_id == ep_id)).one()


def _members_of(session: Session, acronym: str) -> int:
    stmt = select(func.count(func.distinct(Membership.contact_id))).where(
        Membership.acronym == acronym
    )
    return session.scalar(stmt) or 0


def test_first_load_creates_every_mep_and_institution_leader(engine: Engine) -> None:
    """719 MEPs, the 2 leaders who are not MEPs and 27 ministers are created; the 20 EP leaders
    are MEPs."""
    report = _load(engine)

    assert (report.created, report.updated, report.unchanged) == (CONTACTS, 0, 0)
    assert report.without_email == LEADERS_NOT_MEPS + MINISTERS
    with Session(engine) as session:
        assert _count(session) == CONTACTS
        assert _count(session, Contact.kind == "mep") == MEPS
        assert _count(session, Contact.kind == "mep", Contact.email.is_not(None)) == MEPS
        assert _count(session, Contact.kind == "institution_leader") == LEADERS_NOT_MEPS
        assert (
            _count(session, Contact.kind == "mep", Contact.position != MEP_POSITION) == EP_LEADERS
        )
        assert _seat_count(session) == SEATS

        president = _contact(session, "118859")
        assert president.display_name == "Roberta Metsola"
        assert president.kind == "mep"
        assert president.organisation == "European Parliament"
        assert president.position == "President of the European Parliament"
        assert president.email == "roberta.metsola@europarl.europa.eu"
        assert [(m.acronym, m.role) for m in president.memberships] == [("DMED", "chair")]
        quaestors = _count(session, Contact.position == "Quaestor of the European Parliament")
        vice_presidents = _count(
            session, Contact.position == "Vice-President of the European Parliament"
        )
        assert (quaestors, vice_presidents) == (5, 14)

        commission = session.scalars(select(Contact).where(Contact.wikidata_id == "Q57641")).one()
        assert commission.kind == "institution_leader"
        assert commission.display_name == "Ursula von der Leyen"
        assert commission.organisation == "European Commission"
        assert commission.position == "President of the European Commission"
        assert commission.term_start == date(2019, 12, 1)
        assert commission.email is None
        assert not commission.sendable
        assert (commission.given_name, commission.family_name) == ("", "")
        council = session.scalars(select(Contact).where(Contact.wikidata_id == "Q2347236")).one()
        assert (council.display_name, council.organisation) == ("António Costa", "European Council")


def test_mep_fields_are_stored_as_published(engine: Engine) -> None:
    """Mika Aaltola (ep_id 256810) reads back with the file's names, group, seats and languages."""
    _load(engine)

    with Session(engine) as session:
        mep = _contact(session, "256810")
        assert mep.kind == "mep"
        assert (mep.given_name, mep.family_name, mep.display_name) == (
            "Mika",
            "Aaltola",
            "Mika Aaltola",
        )
        assert (mep.honorific, mep.gender) == ("MR", "MALE")
        assert mep.country_code == "FI"
        assert mep.languages == ["fi", "sv"]
        assert mep.political_group == "Group of the European People's Party (Christian Democrats)"
        assert mep.political_group_short == "EPP"
        assert mep.national_party == "Kansallinen Kokoomus"
        assert mep.email == "mika.aaltola@europarl.europa.eu"
        assert mep.term_start == date(2024, 7, 16)
        assert mep.source == "EP full list, 10th term (bundled)"
        assert mep.active
        assert mep.sendable
        assert {(m.acronym, m.body_kind, m.role) for m in mep.memberships} == {
            ("AFET", "committee", "member"),
            ("EUDS", "committee", "member"),
            ("INTA", "committee", "substitute"),
            ("D-UK", "delegation", "vice_chair"),
            ("D-US", "delegation", "substitute"),
            ("DEEA", "delegation", "substitute"),
        }


def test_data_quirks_are_kept_not_corrected(engine: Engine) -> None:
    """Mixed-case addresses, accented family names, Greece and an unknown gender load as given."""
    _load(engine)

    with Session(engine) as session:
        assert _contact(session, "257437").email == "Catarina.VIEIRA@europarl.europa.eu"
        # The family_name column's spelling (comma below), not full_name's (cedilla).
        assert _contact(session, "58766").display_name == "Nicolae Ștefănuță"
        assert _contact(session, "257043").display_name == "Maravillas Abadía Jover"
        greek = _contact(session, "256820")
        assert (greek.country_code, greek.languages) == ("GR", ["el"])
        assert _count(session, Contact.country_code == "GR", Contact.kind == "mep") == 21
        unknown = _contact(session, "256960")  # Sibylle Berg: no honorific, gender "NKN"
        assert (unknown.honorific, unknown.gender) == (None, None)
        no_mandate_start = _count(session, Contact.kind == "mep", Contact.term_start.is_(None))
        assert no_mandate_start == 2
        no_seats = session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.kind == "mep", ~Contact.memberships.any())
        )
        assert no_seats == 2  # Malika Sorel and Manfred Weber


def test_committee_and_delegation_sizes_match_the_data(engine: Engine) -> None:
    """158 MEPs sit on AFET, 51 on DROI and 74 in the China delegation D-CN."""
    _load(engine)

    with Session(engine) as session:
        assert _members_of(session, "AFET") == 158
        assert _members_of(session, "DROI") == 51
        assert _members_of(session, "D-CN") == 74
        body_kinds = dict(
            session.execute(
                select(Membership.acronym, Membership.body_kind).where(
                    Membership.acronym.in_(["AFET", "DROI", "D-CN"])
                )
            ).all()
        )
        assert body_kinds == {"AFET": "committee", "DROI": "committee", "D-CN": "delegation"}
        roles = dict(
            session.execute(select(Membership.role, func.count()).group_by(Membership.role)).all()
        )
        assert roles == {"member": 1962, "substitute": 1931, "vice_chair": 208, "chair": 74}


def test_loading_twice_changes_nothing(engine: Engine) -> None:
    """The second load creates, updates and deletes nothing: same rows, same timestamps."""
    _load(engine)
    with Session(engine) as session:
        stamps_before = dict(session.execute(select(Contact.id, Contact.updated_at)).all())
        seats_before = set(session.execute(select(Membership.id, Membership.acronym)).all())

    report = _load(engine)

    assert (report.created, report.updated, report.unchanged) == (0, 0, CONTACTS)
    with Session(engine) as session:
        assert _count(session) == CONTACTS
        assert dict(session.execute(select(Contact.id, Contact.updated_at)).all()) == stamps_before
        assert set(session.execute(select(Membership.id, Membership.acronym)).all()) == seats_before


def test_reload_restores_an_edited_field(engine: Engine) -> None:
    """A field edited in the database goes back to the file's value; only that contact counts."""
    _load(engine)
    with Session(engine) as session:
        _contact(session, "256810").political_group_short = "XYZ"
        session.commit()

    report = _load(engine)

    assert (report.created, report.updated, report.unchanged) == (0, 1, CONTACTS - 1)
    with Session(engine) as session:
        assert _contact(session, "256810").political_group_short == "EPP"


def test_reload_restores_the_files_memberships(engine: Engine) -> None:
    """Seats removed or added in the database go back to the file's; the others keep their ids."""
    _load(engine)
    with Session(engine) as session:
        mep = _contact(session, "256810")
        kept = {m.acronym: m.id for m in mep.memberships if m.acronym != "D-UK"}
        mep.memberships = [m for m in mep.memberships if m.acronym != "D-UK"]
        mep.memberships.append(Membership(acronym="DROI", body_kind="committee", role="member"))
        session.commit()

    report = _load(engine)

    assert (report.created, report.updated) == (0, 1)
    with Session(engine) as session:
        mep = _contact(session, "256810")
        seats = {m.acronym: (m.role, m.id) for m in mep.memberships}
        assert sorted(seats) == ["AFET", "D-UK", "D-US", "DEEA", "EUDS", "INTA"]
        assert seats["D-UK"][0] == "vice_chair"
        assert {acronym: seats[acronym][1] for acronym in kept} == kept
        assert _seat_count(session) == SEATS


def test_reload_keeps_what_staff_added(engine: Engine) -> None:
    """An e-mail added where the file has none, and languages set by staff, survive a re-load."""
    _load(engine)
    with Session(engine) as session:
        commission = session.scalars(select(Contact).where(Contact.wikidata_id == "Q57641")).one()
        commission.email = "president@example.org"
        _contact(session, "256810").languages = ["en", "fi"]
        session.commit()

    report = _load(engine)

    assert (report.created, report.updated, report.unchanged) == (0, 0, CONTACTS)
    assert report.without_email == 1 + MINISTERS
    with Session(engine) as session:
        commission = session.scalars(select(Contact).where(Contact.wikidata_id == "Q57641")).one()
        assert commission.email == "president@example.org"
        assert _contact(session, "256810").languages == ["en", "fi"]


def test_existing_contacts_are_matched_not_duplicated(engine: Engine) -> None:
    """Contacts already there (an MEP by EP id, a leader by name) are updated, not created again."""
    with Session(engine) as session:
        session.add(Contact(kind="other", display_name="M. Aaltola", ep_id="256810"))
        session.add(
            Contact(
                kind="other",
                display_name="António Costa",
                organisation="European Council",
                email="costa@example.org",
            )
        )
        session.commit()

    report = _load(engine)

    assert (report.created, report.updated) == (CONTACTS - 2, 2)
    with Session(engine) as session:
        assert _count(session) == CONTACTS
        assert _contact(session, "256810").display_name == "Mika Aaltola"
        costa = session.scalars(
            select(Contact).where(Contact.display_name == "António Costa")
        ).one()
        assert (costa.kind, costa.wikidata_id) == ("institution_leader", "Q2347236")
        assert costa.email == "costa@example.org"


def test_load_of_768_rows_takes_well_under_two_seconds(engine: Engine) -> None:
    """The first load and its commit, and a re-load, each finish in under two seconds on SQLite."""
    for _ in range(2):
        started = time.perf_counter()
        _load(engine)
        assert time.perf_counter() - started < 2.0


def test_ministers_load_flagged_for_review_and_cannot_be_written_to(engine: Engine) -> None:
    """The 27 foreign ministers of December 2022 load with their title, country and Wikidata id,
    flagged for review with the reason, and without an address, so no letter can reach them."""
    _load(engine)

    with Session(engine) as session:
        ministers = list(session.scalars(select(Contact).where(Contact.kind == "minister")))
        assert len(ministers) == MINISTERS
        assert len({m.country_code for m in ministers}) == MINISTERS
        assert all(m.needs_review and m.review_reason == MINISTER_REVIEW_REASON for m in ministers)
        assert not any(m.sendable or m.email for m in ministers)
        assert {m.source for m in ministers} == {MINISTER_SOURCE}
        baerbock = session.scalars(select(Contact).where(Contact.wikidata_id == "Q564328")).one()
        assert (baerbock.display_name, baerbock.country_code) == ("Annalena Baerbock", "DE")
        assert baerbock.position == "Federal Minister for Foreign Affairs"
        assert baerbock.organisation is None  # the file names no ministry
        assert baerbock.languages == ["de"]
        assert baerbock.term_start == date(2021, 12, 8)
        assert (baerbock.given_name, baerbock.family_name) == ("", "")


def test_reload_never_overwrites_a_minister_staff_reviewed(engine: Engine) -> None:
    """Staff replace the 2022 minister, add an address and clear the flag: a re-load keeps that
    (the dated file only seeds the directory) and creates no second minister."""
    _load(engine)
    with Session(engine) as session:
        austria = session.scalars(select(Contact).where(Contact.wikidata_id == "Q64168538")).one()
        austria.display_name = "Beate Meinl-Reisinger"
        austria.email = "minister@example.org"
        austria.needs_review = False
        session.commit()

    report = _load(engine)

    assert (report.created, report.updated, report.unchanged) == (0, 0, CONTACTS)
    with Session(engine) as session:
        austria = session.scalars(select(Contact).where(Contact.wikidata_id == "Q64168538")).one()
        assert (austria.display_name, austria.needs_review) == ("Beate Meinl-Reisinger", False)
        assert austria.sendable
        assert _count(session, Contact.kind == "minister") == MINISTERS


def test_each_load_is_recorded_as_import_runs_with_history(engine: Engine) -> None:
    """A load records one ImportRun per bundled file and a "created" change per new contact; a
    re-load records its runs (all unchanged) and no change at all."""
    _load(engine)
    with Session(engine) as session:
        runs = list(session.scalars(select(ImportRun).order_by(ImportRun.id)))
        assert [run.source_kind for run in runs] == ["bundled"] * 3
        assert [run.counts["created"] for run in runs] == [MEPS, LEADERS_NOT_MEPS, MINISTERS]
        assert session.scalar(select(func.count()).select_from(ContactChange)) == CONTACTS
        created = session.scalars(select(ContactChange.field).distinct()).all()
        assert created == ["created"]
        # Andriukaitis's second address (emails_all) is an alternate address.
        andriukaitis = _contact(session, "119652")
        assert [e.address for e in andriukaitis.alternate_emails] == [
            "vytenis.andriukaitis@europarl.europa.eu"
        ]
        alternates = session.scalar(select(func.count()).select_from(ContactEmail)) or 0

    _load(engine)

    with Session(engine) as session:
        runs = list(session.scalars(select(ImportRun).order_by(ImportRun.id)))
        assert len(runs) == 6
        assert sum(run.counts["unchanged"] for run in runs[3:]) == CONTACTS
        assert sum(run.counts["created"] + run.counts["updated"] for run in runs[3:]) == 0
        assert session.scalar(select(func.count()).select_from(ContactChange)) == CONTACTS
        assert session.scalar(select(func.count()).select_from(ContactEmail)) == alternates


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Chair", MembershipRole.CHAIR),
        ("Co-Chair", MembershipRole.CHAIR),
        ("Vice-Chair", MembershipRole.VICE_CHAIR),
        ("First Vice-Chair", MembershipRole.VICE_CHAIR),
        ("Member", MembershipRole.MEMBER),
        ("Substitute", MembershipRole.SUBSTITUTE),
        ("", MembershipRole.MEMBER),
    ],
)
def test_ep_roles_map_onto_membership_roles(given: str, expected: MembershipRole) -> None:
    """Vice roles are vice_chair, other chair roles chair, substitute substitute, else member."""
    assert parse_role(given) is expected


def test_bundled_files_ship_as_package_data_with_attribution() -> None:
    """The CSVs and ATTRIBUTION.md are read from the contacts package, not from ../shared."""
    data = resources.files("contacts") / "data"
    attribution = (data / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "© European Union, 2025 \N{EN DASH} Source: European Parliament" in attribution
    assert "CC BY-SA 4.0" in attribution
    assert "## `eu27_foreign_ministers_2022.csv`" in attribution
    assert "CC0 1.0" in attribution
    ministers_header = (data / "eu27_foreign_ministers_2022.csv").read_text(encoding="utf-8")
    assert "wikipedia" not in ministers_header.splitlines()[0]  # Wikidata's CC0 columns only
    leaders_header = (data / "institution_leaders.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "party_as_given" not in leaders_header
