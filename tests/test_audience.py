"""The audience filter language, evaluated in the real database against the bundled directory.

Expected sets are computed in Python from the rows themselves, independently of the SQL the
filter compiles to.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from contacts.audience import Audience, AudienceError
from contacts.bundled import load_bundled
from contacts.filters import And, FilterError, Not, Or, Term, parse_filter
from contacts.models import Contact, ContactTag, SavedAudience
from outreach.extensions import get_db


@pytest.fixture
def directory(app: Flask) -> Iterator[Session]:
    with app.app_context():
        session = get_db().factory()
        load_bundled(session)
        session.commit()
        yield session
        session.close()


def _all(session: Session) -> list[Contact]:
    return list(session.scalars(select(Contact).options(selectinload(Contact.memberships))))


def _ids(session: Session, text: str) -> set[int]:
    return {c.id for c in Audience(filter=text).contacts(session)}


def _seated(contact: Contact, *acronyms: str) -> bool:
    return any(m.acronym in acronyms for m in contact.memberships)


def test_committee_and_delegation_sizes_match_the_data(directory: Session) -> None:
    """AFET has 158 members and substitutes, DROI 51, the China delegation 74 (data README)."""
    assert Audience(filter="body:AFET").count(directory) == 158
    assert Audience(filter="committee:DROI").count(directory) == 51
    assert Audience(filter="delegation:d-cn").count(directory) == 74


def test_union_and_exception_match_the_rows(directory: Session) -> None:
    """ "AFET and DROI members plus the China delegation, except ESN" selects exactly those rows."""
    expected = {
        c.id
        for c in _all(directory)
        if _seated(c, "AFET", "DROI", "D-CN") and c.political_group_short != "ESN" and c.sendable
    }
    assert _ids(directory, "body:AFET,DROI or body:D-CN except group:ESN") == expected
    assert len(expected) > 150


def test_and_binds_tighter_than_or_and_juxtaposition_means_and(directory: Session) -> None:
    contacts = _all(directory)
    expected = {
        c.id
        for c in contacts
        if c.sendable
        and (
            (c.country_code == "FR" and c.political_group_short == "Renew")
            or c.country_code == "MT"
        )
    }
    assert _ids(directory, "country:FR and group:renew or country:MT") == expected
    assert _ids(directory, "country:FR group:Renew or country:Malta") == expected


def test_a_role_narrows_a_seat(directory: Session) -> None:
    """body:AFET/chair is the committee's chair only; vice-chairs are spelt either way."""
    chairs = Audience(filter="body:AFET/chair").contacts(directory)
    assert len(chairs) == 1
    vice = _ids(directory, "body:AFET/vice-chair")
    assert vice == _ids(directory, "body:AFET/vice_chair")
    assert all(
        any(m.acronym == "AFET" and m.role == "vice_chair" for m in c.memberships)
        for c in _all(directory)
        if c.id in vice
    )
    assert len(vice) >= 1


def test_language_matches_official_languages_of_the_country(directory: Session) -> None:
    """lang:fr reaches French, Belgian and Luxembourgish MEPs (their countries' languages)."""
    expected = {c.id for c in _all(directory) if "fr" in c.languages and c.sendable}
    found = _ids(directory, "lang:fr")
    assert found == expected
    countries = {c.country_code for c in Audience(filter="lang:fr").contacts(directory)}
    assert {"FR", "BE", "LU"} <= countries


def test_tags_and_hand_picked_contacts(directory: Session) -> None:
    contacts = _all(directory)[:5]
    for contact in contacts[:2]:
        directory.add(ContactTag(contact_id=contact.id, tag="ally"))
    directory.commit()
    assert _ids(directory, "tag:Ally") == {c.id for c in contacts[:2]}
    picked = Audience(filter="tag:ally", contact_ids=[contacts[4].id])
    assert {c.id for c in picked.contacts(directory)} == {
        contacts[0].id,
        contacts[1].id,
        contacts[4].id,
    }
    only_picked = Audience(filter="", contact_ids=[contacts[3].id])
    assert [c.id for c in only_picked.contacts(directory)] == [contacts[3].id]


def test_saved_audiences_can_be_reused_by_name_and_loops_are_refused(directory: Session) -> None:
    directory.add(SavedAudience(name="China hearing", filter="body:D-CN"))
    directory.add(SavedAudience(name="Loop A", filter='list:"Loop B"'))
    directory.add(SavedAudience(name="Loop B", filter='list:"Loop A"'))
    directory.commit()
    assert Audience(filter='list:"china hearing" except group:ESN').count(directory) == len(
        _ids(directory, "body:D-CN except group:ESN")
    )
    with pytest.raises(AudienceError, match="loop"):
        Audience(filter='list:"Loop A"').count(directory)
    with pytest.raises(AudienceError, match="there is no saved audience 'Nope'"):
        Audience(filter="list:Nope").count(directory)


def test_left_out_contacts_are_counted_by_reason(directory: Session) -> None:
    """Matching contacts that cannot be written to are excluded and counted once each."""
    maltese = Audience(filter="country:MT kind:mep").contacts(directory)
    assert len(maltese) == 6
    maltese[0].do_not_contact = True
    maltese[1].active = False
    maltese[2].email_status = "bouncing"
    maltese[3].needs_review = True
    maltese[4].email = None
    directory.commit()
    audience = Audience(filter="country:MT kind:mep")
    assert audience.count(directory) == 1
    excluded = audience.exclusions(directory)
    assert (excluded.do_not_contact, excluded.inactive, excluded.needs_review) == (1, 1, 1)
    assert excluded.no_valid_address == 2
    assert (
        excluded.describe()
        == "2 no valid address, 1 inactive, 1 do not contact, 1 waiting for review"
    )


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a:1", None),
        ("kind:mep", Term("kind", ("mep",), 1)),
        ("group:EPP,S&D", Term("group", ("EPP", "S&D"), 1)),
        ('party:"Les Républicains"', Term("party", ("Les Républicains",), 1)),
        (
            "kind:mep or country:FR except group:ESN",
            And(
                (
                    Or((Term("kind", ("mep",), 1), Term("country", ("FR",), 13))),
                    Not(Term("group", ("ESN",), 31)),
                )
            ),
        ),
        ("not tag:x", Not(Term("tag", ("x",), 5))),
    ],
)
def test_filters_parse_into_the_expected_tree(text: str, tree: object) -> None:
    if tree is None:
        with pytest.raises(FilterError, match="unknown key 'a'"):
            parse_filter(text)
    else:
        assert parse_filter(text) == tree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("contry:FR", r"unknown key 'contry'; the keys are: kind, country.* \(at column 1\)"),
        ("kind:mep and (country:FR", r"a '\(' is not closed \(at column 14\)"),
        ('party:"Renew', r"a quoted value is not closed \(at column 7\)"),
        ("kind:mep and", r"the filter ends where a term was expected"),
        ("body:AFET/boss", r"unknown role 'boss'"),
        ("kind:senator", r"unknown kind 'senator'"),
        ("country:Atlantis", r"unknown country 'Atlantis'"),
        ("AFET", r"'AFET' is neither a term"),
    ],
)
def test_bad_filters_are_refused_with_a_message_and_column(
    directory: Session, text: str, message: str
) -> None:
    with pytest.raises(AudienceError, match=message):
        Audience(filter=text).count(directory)


def test_except_and_not_keep_officials_who_have_no_value_in_that_field(directory: Session) -> None:
    """Institution leaders have no political group: "except group:ESN" must keep them (SQL's
    NOT on NULL would silently drop them), and "not country:FR" keeps those with no country."""

    def matching(text: str) -> set[int]:
        condition = Audience(filter=text).matching_condition(directory)
        return set(directory.scalars(select(Contact.id).where(condition)))

    leaders = matching("kind:institution_leader")
    assert leaders
    assert matching("kind:institution_leader except group:ESN") == leaders
    assert matching("kind:institution_leader and not party:Fidesz") == leaders
    no_country = {c.id for c in _all(directory) if c.country_code is None}
    assert no_country
    assert no_country <= matching("not country:FR")
