"""Forms of address: per language, role and gender, by rule, overridable per contact, never gappy."""

from __future__ import annotations

import itertools
import re
from string import Formatter
from typing import Any

import pytest

from contacts import address
from contacts.address import (
    address_line,
    formal_name,
    grammatical_gender,
    honorific,
    language_code,
    role,
    salutation,
)
from contacts.address_rules import GENDERS, LANGUAGES, PLACEHOLDERS, ROLES, RULES
from contacts.models import Contact

EP = "European Parliament"
MEMBER = "Member of the European Parliament"
EP_VICE = "Vice-President of the European Parliament"


def contact(**values: Any) -> Contact:
    """An in-memory contact; the fields a form may read default to "not recorded"."""
    fields: dict[str, Any] = {
        "kind": "other",
        "honorific": None,
        "gender": None,
        "given_name": "",
        "family_name": "",
        "display_name": "",
        "position": None,
        "organisation": None,
        "salutation_overrides": {},
        "address_line_overrides": {},
    }
    fields.update(values)
    if not fields["display_name"]:
        fields["display_name"] = f"{fields['given_name']} {fields['family_name']}".strip()
    return Contact(**fields)


def _female(given: str, family: str, **values: Any) -> Contact:
    fields = {"honorific": "MS", "gender": "FEMALE", **values}
    return contact(given_name=given, family_name=family, **fields)


def _male(given: str, family: str, **values: Any) -> Contact:
    fields = {"honorific": "MR", "gender": "MALE", **values}
    return contact(given_name=given, family_name=family, **fields)


def _unknown(given: str, family: str, **values: Any) -> Contact:
    return contact(given_name=given, family_name=family, **values)


CONTACTS: dict[str, Contact] = {
    "mep_f": _female("Maravillas", "Abadía Jover", kind="mep", position=MEMBER, organisation=EP),
    "mep_m": _male("Mika", "Aaltola", kind="mep", position=MEMBER, organisation=EP),
    "mep_x": _unknown("Sibylle", "Berg", kind="mep", position=MEMBER, organisation=EP),
    "minister_f": _female(
        "Beate",
        "Meinl-Reisinger",
        kind="minister",
        position="Federal Minister for European and International Affairs",
    ),
    "minister_m": _male(
        "Jean-Noël", "Barrot", kind="minister", position="Minister for Europe and Foreign Affairs"
    ),
    "minister_x": _unknown(
        "Alex", "Lindqvist", kind="minister", position="Minister for Foreign Affairs"
    ),
    "president_f": _female(
        "Roberta",
        "Metsola",
        kind="mep",
        position="President of the European Parliament",
        organisation=EP,
    ),
    "president_m": _male(
        "António",
        "Costa",
        kind="institution_leader",
        position="President of the European Council",
        organisation="European Council",
    ),
    # As the bundled file has her: a display name, no given/family split, no gender.
    "president_x": contact(
        kind="institution_leader",
        display_name="Ursula von der Leyen",
        position="President of the European Commission",
        organisation="European Commission",
    ),
    "vice_president_f": _female("Katarina", "Barley", kind="mep", position=EP_VICE),
    "vice_president_m": _male("Esteban", "González Pons", kind="mep", position=EP_VICE),
    "other_f": _female(
        "Agnès", "Callamard", position="Secretary General", organisation="Amnesty International"
    ),
    "other_m": _male(
        "Volker", "Türk", position="United Nations High Commissioner for Human Rights"
    ),
    "other_x": _unknown("Robin", "Jansen"),
}

# language -> contact -> (salutation, address line), exactly.
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "mep_f": (
            "Dear Ms Abadía Jover,",
            "Ms Maravillas Abadía Jover, Member of the European Parliament",
        ),
        "mep_m": ("Dear Mr Aaltola,", "Mr Mika Aaltola, Member of the European Parliament"),
        "mep_x": ("Dear Sibylle Berg,", "Sibylle Berg, Member of the European Parliament"),
        "minister_f": (
            "Dear Minister,",
            "Ms Beate Meinl-Reisinger, Federal Minister for European and International Affairs",
        ),
        "minister_m": (
            "Dear Minister,",
            "Mr Jean-Noël Barrot, Minister for Europe and Foreign Affairs",
        ),
        "minister_x": ("Dear Minister,", "Alex Lindqvist, Minister for Foreign Affairs"),
        "president_f": (
            "Dear President Metsola,",
            "Ms Roberta Metsola, President of the European Parliament",
        ),
        "president_m": (
            "Dear President Costa,",
            "Mr António Costa, President of the European Council",
        ),
        "president_x": (
            "Dear President of the European Commission,",
            "Ursula von der Leyen, President of the European Commission",
        ),
        "vice_president_f": (
            "Dear Vice-President Barley,",
            "Ms Katarina Barley, Vice-President of the European Parliament",
        ),
        "vice_president_m": (
            "Dear Vice-President González Pons,",
            "Mr Esteban González Pons, Vice-President of the European Parliament",
        ),
        "other_f": ("Dear Ms Callamard,", "Ms Agnès Callamard, Secretary General"),
        "other_m": (
            "Dear Mr Türk,",
            "Mr Volker Türk, United Nations High Commissioner for Human Rights",
        ),
        "other_x": ("Dear Robin Jansen,", "Robin Jansen"),
    },
    "fr": {
        "mep_f": (
            "Madame la Députée,",
            "Madame Maravillas Abadía Jover, députée au Parlement européen",
        ),
        "mep_m": ("Monsieur le Député,", "Monsieur Mika Aaltola, député au Parlement européen"),
        "mep_x": (
            "Madame la Députée, Monsieur le Député,",
            "Sibylle Berg, membre du Parlement européen",
        ),
        "minister_f": ("Madame la Ministre,", "Madame Beate Meinl-Reisinger, ministre"),
        "minister_m": ("Monsieur le Ministre,", "Monsieur Jean-Noël Barrot, ministre"),
        "minister_x": ("Madame la Ministre, Monsieur le Ministre,", "Alex Lindqvist, ministre"),
        "president_f": (
            "Madame la Présidente,",
            "Madame Roberta Metsola, présidente du Parlement européen",
        ),
        "president_m": (
            "Monsieur le Président,",
            "Monsieur António Costa, président du Conseil européen",
        ),
        "president_x": (
            "Madame la Présidente, Monsieur le Président,",
            "Ursula von der Leyen, Commission européenne",
        ),
        "vice_president_f": (
            "Madame la Vice-Présidente,",
            "Madame Katarina Barley, vice-présidente du Parlement européen",
        ),
        "vice_president_m": (
            "Monsieur le Vice-Président,",
            "Monsieur Esteban González Pons, vice-président du Parlement européen",
        ),
        "other_f": ("Madame,", "Madame Agnès Callamard"),
        "other_m": ("Monsieur,", "Monsieur Volker Türk"),
        "other_x": ("Madame, Monsieur,", "Robin Jansen"),
    },
    "de": {
        "mep_f": (
            "Sehr geehrte Frau Abgeordnete Abadía Jover,",
            "Frau Abgeordnete Maravillas Abadía Jover",
        ),
        "mep_m": ("Sehr geehrter Herr Abgeordneter Aaltola,", "Herrn Abgeordneten Mika Aaltola"),
        "mep_x": ("Guten Tag Sibylle Berg,", "Sibylle Berg, Mitglied des Europäischen Parlaments"),
        "minister_f": ("Sehr geehrte Frau Ministerin,", "Frau Ministerin Beate Meinl-Reisinger"),
        "minister_m": ("Sehr geehrter Herr Minister,", "Herrn Minister Jean-Noël Barrot"),
        "minister_x": ("Guten Tag Alex Lindqvist,", "Alex Lindqvist"),
        "president_f": (
            "Sehr geehrte Frau Präsidentin,",
            "Frau Roberta Metsola, Präsidentin des Europäischen Parlaments",
        ),
        "president_m": (
            "Sehr geehrter Herr Präsident,",
            "Herrn António Costa, Präsident des Europäischen Rates",
        ),
        "president_x": (
            "Guten Tag Ursula von der Leyen,",
            "Ursula von der Leyen, Europäische Kommission",
        ),
        "vice_president_f": (
            "Sehr geehrte Frau Vizepräsidentin,",
            "Frau Katarina Barley, Vizepräsidentin des Europäischen Parlaments",
        ),
        "vice_president_m": (
            "Sehr geehrter Herr Vizepräsident,",
            "Herrn Esteban González Pons, Vizepräsident des Europäischen Parlaments",
        ),
        "other_f": ("Sehr geehrte Frau Callamard,", "Frau Agnès Callamard"),
        "other_m": ("Sehr geehrter Herr Türk,", "Herrn Volker Türk"),
        "other_x": ("Guten Tag Robin Jansen,", "Robin Jansen"),
    },
    "es": {
        "mep_f": (
            "Estimada señora diputada:",
            "Sra. Maravillas Abadía Jover, diputada al Parlamento Europeo",
        ),
        "mep_m": ("Estimado señor diputado:", "Sr. Mika Aaltola, diputado al Parlamento Europeo"),
        "mep_x": ("Estimado/a Sibylle Berg:", "Sibylle Berg, miembro del Parlamento Europeo"),
        "minister_f": ("Estimada señora ministra:", "Sra. Beate Meinl-Reisinger, ministra"),
        "minister_m": ("Estimado señor ministro:", "Sr. Jean-Noël Barrot, ministro"),
        "minister_x": ("Estimado/a Alex Lindqvist:", "Alex Lindqvist"),
        "president_f": (
            "Estimada señora presidenta:",
            "Sra. Roberta Metsola, presidenta del Parlamento Europeo",
        ),
        "president_m": (
            "Estimado señor presidente:",
            "Sr. António Costa, presidente del Consejo Europeo",
        ),
        "president_x": (
            "Estimado/a Ursula von der Leyen:",
            "Ursula von der Leyen, Comisión Europea",
        ),
        "vice_president_f": (
            "Estimada señora vicepresidenta:",
            "Sra. Katarina Barley, vicepresidenta del Parlamento Europeo",
        ),
        "vice_president_m": (
            "Estimado señor vicepresidente:",
            "Sr. Esteban González Pons, vicepresidente del Parlamento Europeo",
        ),
        "other_f": ("Estimada señora Callamard:", "Sra. Agnès Callamard"),
        "other_m": ("Estimado señor Türk:", "Sr. Volker Türk"),
        "other_x": ("Estimado/a Robin Jansen:", "Robin Jansen"),
    },
    "it": {
        "mep_f": (
            "Gentile Onorevole Abadía Jover,",
            "On. Maravillas Abadía Jover, deputata al Parlamento europeo",
        ),
        "mep_m": ("Egregio Onorevole Aaltola,", "On. Mika Aaltola, deputato al Parlamento europeo"),
        "mep_x": ("Gentile Onorevole Berg,", "On. Sibylle Berg, membro del Parlamento europeo"),
        "minister_f": ("Gentile Ministra,", "Sig.ra Beate Meinl-Reisinger, ministra"),
        "minister_m": ("Egregio Ministro,", "Sig. Jean-Noël Barrot, ministro"),
        "minister_x": ("Gentile Alex Lindqvist,", "Alex Lindqvist"),
        "president_f": (
            "Gentile Presidente,",
            "Sig.ra Roberta Metsola, presidente del Parlamento europeo",
        ),
        "president_m": (
            "Egregio Presidente,",
            "Sig. António Costa, presidente del Consiglio europeo",
        ),
        "president_x": (
            "Gentile Presidente,",
            "Ursula von der Leyen, presidente della Commissione europea",
        ),
        "vice_president_f": (
            "Gentile Vicepresidente,",
            "Sig.ra Katarina Barley, vicepresidente del Parlamento europeo",
        ),
        "vice_president_m": (
            "Egregio Vicepresidente,",
            "Sig. Esteban González Pons, vicepresidente del Parlamento europeo",
        ),
        "other_f": ("Gentile Signora Callamard,", "Sig.ra Agnès Callamard"),
        "other_m": ("Egregio Signor Türk,", "Sig. Volker Türk"),
        "other_x": ("Gentile Robin Jansen,", "Robin Jansen"),
    },
    "nl": {
        "mep_f": (
            "Geachte mevrouw Abadía Jover,",
            "Mevrouw Maravillas Abadía Jover, lid van het Europees Parlement",
        ),
        "mep_m": ("Geachte heer Aaltola,", "De heer Mika Aaltola, lid van het Europees Parlement"),
        "mep_x": ("Geachte Sibylle Berg,", "Sibylle Berg, lid van het Europees Parlement"),
        "minister_f": ("Geachte minister,", "Mevrouw Beate Meinl-Reisinger, minister"),
        "minister_m": ("Geachte minister,", "De heer Jean-Noël Barrot, minister"),
        "minister_x": ("Geachte minister,", "Alex Lindqvist, minister"),
        "president_f": (
            "Geachte voorzitter,",
            "Mevrouw Roberta Metsola, voorzitter van het Europees Parlement",
        ),
        "president_m": (
            "Geachte voorzitter,",
            "De heer António Costa, voorzitter van de Europese Raad",
        ),
        "president_x": (
            "Geachte voorzitter,",
            "Ursula von der Leyen, voorzitter van de Europese Commissie",
        ),
        "vice_president_f": (
            "Geachte vicevoorzitter,",
            "Mevrouw Katarina Barley, vicevoorzitter van het Europees Parlement",
        ),
        "vice_president_m": (
            "Geachte vicevoorzitter,",
            "De heer Esteban González Pons, vicevoorzitter van het Europees Parlement",
        ),
        "other_f": ("Geachte mevrouw Callamard,", "Mevrouw Agnès Callamard"),
        "other_m": ("Geachte heer Türk,", "De heer Volker Türk"),
        "other_x": ("Geachte Robin Jansen,", "Robin Jansen"),
    },
    "pl": {
        "mep_f": (
            "Szanowna Pani Poseł,",
            "Pani Maravillas Abadía Jover, poseł do Parlamentu Europejskiego",
        ),
        "mep_m": ("Szanowny Panie Pośle,", "Pan Mika Aaltola, poseł do Parlamentu Europejskiego"),
        "mep_x": ("Szanowni Państwo,", "Sibylle Berg, poseł do Parlamentu Europejskiego"),
        "minister_f": ("Szanowna Pani Minister,", "Pani Beate Meinl-Reisinger, minister"),
        "minister_m": ("Szanowny Panie Ministrze,", "Pan Jean-Noël Barrot, minister"),
        "minister_x": ("Szanowni Państwo,", "Alex Lindqvist, minister"),
        "president_f": (
            "Szanowna Pani Przewodnicząca,",
            "Pani Roberta Metsola, przewodnicząca Parlamentu Europejskiego",
        ),
        "president_m": (
            "Szanowny Panie Przewodniczący,",
            "Pan António Costa, przewodniczący Rady Europejskiej",
        ),
        "president_x": ("Szanowni Państwo,", "Ursula von der Leyen, Komisja Europejska"),
        "vice_president_f": (
            "Szanowna Pani Wiceprzewodnicząca,",
            "Pani Katarina Barley, wiceprzewodnicząca Parlamentu Europejskiego",
        ),
        "vice_president_m": (
            "Szanowny Panie Wiceprzewodniczący,",
            "Pan Esteban González Pons, wiceprzewodniczący Parlamentu Europejskiego",
        ),
        "other_f": ("Szanowna Pani,", "Pani Agnès Callamard"),
        "other_m": ("Szanowny Panie,", "Pan Volker Türk"),
        "other_x": ("Szanowni Państwo,", "Robin Jansen"),
    },
    "pt": {
        "mep_f": (
            "Excelentíssima Senhora Deputada,",
            "Exma. Senhora Maravillas Abadía Jover, deputada ao Parlamento Europeu",
        ),
        "mep_m": (
            "Excelentíssimo Senhor Deputado,",
            "Exmo. Senhor Mika Aaltola, deputado ao Parlamento Europeu",
        ),
        "mep_x": ("Exmo.(a) Senhor(a) Deputado(a),", "Sibylle Berg, membro do Parlamento Europeu"),
        "minister_f": (
            "Excelentíssima Senhora Ministra,",
            "Exma. Senhora Beate Meinl-Reisinger, ministra",
        ),
        "minister_m": (
            "Excelentíssimo Senhor Ministro,",
            "Exmo. Senhor Jean-Noël Barrot, ministro",
        ),
        "minister_x": ("Exmo.(a) Senhor(a) Ministro(a),", "Alex Lindqvist"),
        "president_f": (
            "Excelentíssima Senhora Presidente,",
            "Exma. Senhora Roberta Metsola, presidente do Parlamento Europeu",
        ),
        "president_m": (
            "Excelentíssimo Senhor Presidente,",
            "Exmo. Senhor António Costa, presidente do Conselho Europeu",
        ),
        "president_x": (
            "Exmo.(a) Senhor(a) Presidente,",
            "Ursula von der Leyen, presidente da Comissão Europeia",
        ),
        "vice_president_f": (
            "Excelentíssima Senhora Vice-Presidente,",
            "Exma. Senhora Katarina Barley, vice-presidente do Parlamento Europeu",
        ),
        "vice_president_m": (
            "Excelentíssimo Senhor Vice-Presidente,",
            "Exmo. Senhor Esteban González Pons, vice-presidente do Parlamento Europeu",
        ),
        "other_f": ("Excelentíssima Senhora,", "Exma. Senhora Agnès Callamard"),
        "other_m": ("Excelentíssimo Senhor,", "Exmo. Senhor Volker Türk"),
        "other_x": ("Exmo.(a) Senhor(a),", "Robin Jansen"),
    },
}

CASES = [
    pytest.param(language, name, forms[0], forms[1], id=f"{language}-{name}")
    for language, by_contact in EXPECTED.items()
    for name, forms in by_contact.items()
]


def test_the_table_covers_every_language_and_contact() -> None:
    assert set(EXPECTED) == set(LANGUAGES) == {"en", "fr", "de", "es", "it", "nl", "pl", "pt"}
    for by_contact in EXPECTED.values():
        assert set(by_contact) == set(CONTACTS)


@pytest.mark.parametrize(("language", "name", "expected_salutation", "expected_line"), CASES)
def test_forms_of_address_by_language_role_and_gender(
    language: str, name: str, expected_salutation: str, expected_line: str
) -> None:
    recipient = CONTACTS[name]
    assert salutation(recipient, language) == expected_salutation
    assert address_line(recipient, language) == expected_line


# -- the English API of before --------------------------------------------------------------------


def test_english_is_the_default_and_keeps_its_meaning() -> None:
    mep = CONTACTS["mep_f"]
    assert salutation(mep) == salutation(mep, "en") == "Dear Ms Abadía Jover,"
    assert address_line(mep) == "Ms Maravillas Abadía Jover, Member of the European Parliament"
    assert formal_name(mep) == "Ms Abadía Jover"
    assert honorific(mep) == "Ms"
    assert honorific(_unknown("Sibylle", "Berg", gender="MALE")) == "Mr"
    assert formal_name(CONTACTS["mep_x"]) == "Sibylle Berg"
    assert formal_name(CONTACTS["president_x"]) == "Ursula von der Leyen"
    assert honorific(CONTACTS["president_x"]) == ""


def test_a_leader_without_family_name_is_greeted_by_position() -> None:
    """von der Leyen and Costa as bundled: no name split, so no "Dear President Leyen,"."""
    costa = contact(
        kind="institution_leader",
        display_name="António Costa",
        position="President of the European Council",
        organisation="European Council",
    )
    assert salutation(costa) == "Dear President of the European Council,"
    assert address_line(costa) == "António Costa, President of the European Council"
    untitled = contact(
        kind="institution_leader", display_name="António Costa", position="President"
    )
    assert salutation(untitled) == "Dear President,"


def test_english_keeps_the_recorded_honorific_and_other_languages_the_gender() -> None:
    doctor = _female("Sibylle", "Berg", kind="other", honorific="DR")
    assert salutation(doctor) == "Dear Dr Berg,"
    assert address_line(doctor) == "Dr Sibylle Berg"
    assert salutation(doctor, "de") == "Sehr geehrte Frau Berg,"
    by_title_only = _unknown("Sibylle", "Berg", honorific="MS")
    assert grammatical_gender(by_title_only) == "f"
    assert salutation(by_title_only, "fr") == "Madame,"
    mx = _unknown("Robin", "Jansen", honorific="MX")
    assert (grammatical_gender(mx), salutation(mx)) == ("x", "Dear Mx Jansen,")


# -- overrides -----------------------------------------------------------------------------------


def test_the_contacts_override_for_the_language_always_wins() -> None:
    leader = contact(
        kind="institution_leader",
        display_name="Ursula von der Leyen",
        position="President of the European Commission",
        salutation_overrides={"fr": "Madame la Présidente,", "en": "Dear President von der Leyen,"},
        address_line_overrides={"de": "Frau Dr. Ursula von der Leyen"},
    )
    assert salutation(leader, "fr") == "Madame la Présidente,"
    assert salutation(leader) == "Dear President von der Leyen,"
    assert address_line(leader, "de") == "Frau Dr. Ursula von der Leyen"
    # Only for that language: "de" has no salutation override, "en" none for the address line.
    assert salutation(leader, "de") == "Guten Tag Ursula von der Leyen,"
    assert address_line(leader) == "Ursula von der Leyen, President of the European Commission"


def test_an_english_override_is_not_used_for_another_language() -> None:
    mep = _female(
        "Maravillas",
        "Abadía Jover",
        kind="mep",
        salutation_overrides={"en": "Dear Maravillas,"},
        address_line_overrides={"en": "Maravillas"},
    )
    assert salutation(mep, "fr") == "Madame la Députée,"
    assert address_line(mep, "es") == "Sra. Maravillas Abadía Jover, diputada al Parlamento Europeo"
    # A language without rules gets English, and so the English override.
    assert salutation(mep, "fi") == "Dear Maravillas,"
    assert address_line(mep, "fi") == "Maravillas"


def test_a_regional_override_wins_over_the_languages_and_blank_ones_do_not_count() -> None:
    mep = _male(
        "Mika",
        "Aaltola",
        kind="mep",
        salutation_overrides={"FR_be": "Cher Monsieur le Député,", "fr": "  ", "de": ""},
    )
    assert salutation(mep, "fr-BE") == "Cher Monsieur le Député,"
    assert salutation(mep, "fr") == "Monsieur le Député,"
    assert salutation(mep, "de") == "Sehr geehrter Herr Abgeordneter Aaltola,"


def test_overrides_that_were_never_set_are_no_overrides() -> None:
    mep = Contact(kind="mep", honorific="MS", given_name="Ewa", family_name="Kopacz")
    assert mep.salutation_overrides is None  # column defaults only apply on insert
    assert salutation(mep, "pl") == "Szanowna Pani Poseł,"
    assert address_line(mep, "pl") == "Pani Ewa Kopacz, poseł do Parlamentu Europejskiego"


# -- languages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fi", "xx", "", None, "en-GB", "EN", "sv-FI"])
def test_an_unknown_language_falls_back_to_english(language: str | None) -> None:
    for recipient in CONTACTS.values():
        assert salutation(recipient, language) == salutation(recipient, "en")
        assert address_line(recipient, language) == address_line(recipient, "en")


@pytest.mark.parametrize(
    ("tag", "language"),
    [("fr-BE", "fr"), ("fr_CA", "fr"), ("DE-at", "de"), ("pt-BR", "pt"), ("nl-be", "nl")],
)
def test_a_regional_tag_uses_its_language(tag: str, language: str) -> None:
    assert language_code(tag) == language
    for recipient in CONTACTS.values():
        assert salutation(recipient, tag) == salutation(recipient, language)
        assert address_line(recipient, tag) == address_line(recipient, language)


# -- empty names ---------------------------------------------------------------------------------

NEUTRAL = {
    "en": ("Dear Sir or Madam,", "Sir or Madam"),
    "fr": ("Madame, Monsieur,", "Madame, Monsieur"),
    "de": ("Sehr geehrte Damen und Herren,", "Damen und Herren"),
    "es": ("Estimado/a señor/a:", "Señor/a"),
    "it": ("Gentili Signore e Signori,", "Gentili Signore e Signori"),
    "nl": ("Geachte heer of mevrouw,", "De heer of mevrouw"),
    "pl": ("Szanowni Państwo,", "Szanowni Państwo"),
    "pt": ("Exmo.(a) Senhor(a),", "Exmo.(a) Senhor(a)"),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("blank", ["", "   ", None])
def test_without_any_name_the_neutral_form_is_used(language: str, blank: str | None) -> None:
    nobody = Contact(kind="other", given_name=blank, family_name=blank, display_name=blank)
    assert (salutation(nobody, language), address_line(nobody, language)) == NEUTRAL[language]


def test_without_a_name_an_office_is_still_greeted_by_its_title() -> None:
    mep = contact(kind="mep", gender="FEMALE")
    assert salutation(mep) == "Dear Member of the European Parliament,"
    assert address_line(mep) == "Member of the European Parliament"
    assert salutation(mep, "fr") == "Madame la Députée,"
    assert address_line(mep, "fr") == "Madame la Députée"
    assert salutation(mep, "de") == "Sehr geehrte Frau Abgeordnete,"
    assert salutation(mep, "it") == "Gentile Onorevole,"
    president = contact(kind="institution_leader", position="President of the European Council")
    assert salutation(president) == "Dear President of the European Council,"
    assert address_line(president, "nl") == "Voorzitter van de Europese Raad"
    assert address_line(president, "de") == "Europäischer Rat"


def test_a_family_name_alone_is_not_a_greeting() -> None:
    """Without a given name or title: "Dear Sibylle Berg," from the display name, not "Dear Berg,"."""
    berg = contact(family_name="Berg", display_name="Sibylle Berg")
    assert salutation(berg) == "Dear Sibylle Berg,"
    assert salutation(contact(family_name="Berg", display_name=" ")) == "Dear Berg,"


def test_names_contribute_single_spaces_only() -> None:
    messy = _female(" Maravillas ", "Abadía \n Jover", kind="mep")
    assert salutation(messy) == "Dear Ms Abadía Jover,"
    assert address_line(messy, "nl") == (
        "Mevrouw Maravillas Abadía Jover, lid van het Europees Parlement"
    )
    assert formal_name(messy) == "Ms Abadía Jover"


# -- roles ---------------------------------------------------------------------------------------


def test_a_head_of_state_is_not_addressed_as_the_chair_of_a_body() -> None:
    head = _male("Jan", "Kowalski", kind="other", position="President of the Republic of Poland")
    assert role(head) == "state_president"
    assert salutation(head, "pl") == "Szanowny Panie Prezydencie,"
    assert address_line(head, "pl") == "Pan Jan Kowalski, prezydent"
    assert salutation(head, "nl") == "Geachte president,"
    assert salutation(head, "fr") == "Monsieur le Président,"  # the same word elsewhere
    assert salutation(head) == "Dear President Kowalski,"
    deputy = _female("Anna", "Nowak", position="Vice-President of the Republic")
    assert (role(deputy), salutation(deputy, "pl")) == (
        "state_vice_president",
        "Szanowna Pani Wiceprezydent,",
    )


def test_a_prime_minister_is_not_greeted_as_a_minister() -> None:
    premier = _male("Jan", "Kowalski", kind="minister", position="Prime Minister")
    assert role(premier) == "other"
    assert salutation(premier) == "Dear Mr Kowalski,"
    deputy = _male(
        "Jan",
        "Kowalski",
        kind="other",
        position="Deputy Prime Minister and Minister of Foreign Affairs",
    )
    assert (role(deputy), salutation(deputy)) == ("minister", "Dear Minister,")


def test_a_minister_without_a_recorded_position() -> None:
    minister = _female("Beate", "Meinl-Reisinger", kind="minister")
    assert role(minister) == "minister"
    assert address_line(minister) == "Ms Beate Meinl-Reisinger, Minister"
    assert address_line(minister, "fr") == "Madame Beate Meinl-Reisinger, ministre"


def test_an_ep_quaestor_is_an_mep() -> None:
    quaestor = _female(
        "Fabienne", "Keller", kind="mep", position="Quaestor of the European Parliament"
    )
    assert salutation(quaestor, "fr") == "Madame la Députée,"
    assert address_line(quaestor) == "Ms Fabienne Keller, Quaestor of the European Parliament"


# -- never a gap ---------------------------------------------------------------------------------

ROLE_FIELDS: dict[str, dict[str, Any]] = {
    "mep": {"kind": "mep", "position": MEMBER},
    "minister": {"kind": "minister", "position": "Minister for Foreign Affairs"},
    "minister without position": {"kind": "minister"},
    "president": {"kind": "institution_leader", "position": "President of the European Council"},
    "president elsewhere": {"kind": "other", "position": "President of the Court of Auditors"},
    "vice-president": {"kind": "mep", "position": EP_VICE},
    "head of state": {"kind": "other", "position": "President of the Republic"},
    "prime minister": {"kind": "minister", "position": "Prime Minister"},
    "other": {"kind": "other"},
    "other with position": {"kind": "other", "position": "Director"},
}
GENDER_FIELDS: dict[str, dict[str, Any]] = {
    "female": {"gender": "FEMALE", "honorific": "MS"},
    "male": {"gender": "MALE", "honorific": "MR"},
    "unknown": {},
    "unknown with title": {"honorific": "DR"},
}
NAME_FIELDS: dict[str, dict[str, Any]] = {
    "split": {"given_name": "Sibylle", "family_name": "Berg", "display_name": "Sibylle Berg"},
    "display name only": {"display_name": "Sibylle Berg"},
    "family name only": {"family_name": "Berg", "display_name": ""},
    "no name": {"display_name": ""},
    "blank names": {"given_name": " ", "family_name": " ", "display_name": " "},
}
GAP = re.compile(r"\s[,:.]|,,|\s\s|^\W|[{}]|\bNone\b|\(\)")


@pytest.mark.parametrize(
    ("language", "role_name", "gender_name"),
    list(itertools.product([*LANGUAGES, "fi", "fr-BE"], ROLE_FIELDS, GENDER_FIELDS)),
)
def test_no_form_has_a_gap_for_any_language_role_and_gender(
    language: str, role_name: str, gender_name: str
) -> None:
    for name_name, names in NAME_FIELDS.items():
        fields = {**ROLE_FIELDS[role_name], **GENDER_FIELDS[gender_name], **names}
        recipient = Contact(**fields)
        greeting = salutation(recipient, language)
        line = address_line(recipient, language)
        where = f"{language} {role_name} {gender_name} {name_name}"
        assert greeting, where
        assert not GAP.search(greeting), f"{where}: {greeting!r}"
        assert greeting[-1] in ",:", f"{where}: {greeting!r}"
        assert not re.search(
            r"^(Dear|Sehr geehrte[r]?|Geachte|Gentile|Egregio|Estimad[oa])[,:]", greeting
        ), where
        assert line, where
        assert not GAP.search(line), f"{where}: {line!r}"
        assert line[-1] not in ",:;", f"{where}: {line!r}"
        if name_name in ("split", "display name only"):  # a name is known, so it is named
            assert "Sibylle Berg" in line, f"{where}: {line!r}"


# -- the table itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_role_and_gender_with_known_placeholders(language: str) -> None:
    rules = RULES[language]
    for table in (rules.salutations, rules.address_lines):
        assert set(ROLES) <= set(table)
        for forms in table.values():
            assert set(forms) == set(GENDERS)
            for template in itertools.chain.from_iterable(forms.values()):
                fields = {name for _, name, _, _ in Formatter().parse(template) if name}
                assert fields <= PLACEHOLDERS, template
                assert "  " not in template, template
                assert template == template.strip(), template
    for neutral in (rules.neutral_salutation, rules.neutral_address):
        assert neutral
        assert "{" not in neutral
    assert rules.neutral_salutation[-1] in ",:"


def test_the_placeholders_are_the_values_the_module_provides() -> None:
    values = address._values(CONTACTS["mep_f"], RULES["en"], "mep")
    assert set(values) == PLACEHOLDERS
