"""Forms of address: how a letter greets an official, and the line that names them.

``salutation(contact, language)`` is the opening line ("Dear Ms Abadía Jover,", "Madame la
Députée,", "Estimada señora diputada:"); ``address_line(contact, language)`` names the recipient at
the top of the letter and on the envelope ("Ms Maravillas Abadía Jover, Member of the European
Parliament", "Frau Abgeordnete Maravillas Abadía Jover"). Both default to English, and
``salutation(contact)`` keeps its English meaning from before languages existed: title and family
name, or the position when no family name is recorded, never "Dear ,". ``honorific`` and
``formal_name`` are English and unchanged.

How a form is chosen:

1. The contact's override for the language (``salutation_overrides`` / ``address_line_overrides``)
   always wins: first the exact tag ("fr-be"), then the language ("fr"). An override for "en" is
   never used for "fr"; it is used for a language that has no rules (see 2), since the letter then
   gets the English form.
2. The language: "fr-BE" and "fr_BE" use "fr"; a language without rules (anything but en, fr, de,
   es, it, nl, pl, pt) and no language use English.
3. The role, from the position (English, as the data has it) and the kind: a position naming a
   vice-president, then a president, makes the role whatever the kind (an EP President is an MEP);
   then a minister (kind "minister", or "Minister" in the position; a Prime Minister is not greeted
   "Dear Minister," but as a named person, "other"); then kind "mep"; everything else is "other".
   A president or vice-president is the chair of a body unless the position names a republic,
   a head of state or a federal president: Dutch and Polish say voorzitter / przewodniczący for
   the chair of the Commission, the European Council or the Parliament and president / prezydent
   for a head of state.
4. The grammatical gender: the recorded gender ("FEMALE"/"MALE"), else the honorific (MS, MRS,
   MISS / MR), else unknown. It is never guessed from a given name.
5. The rules table (contacts.address_rules): candidates tried in order, the first whose names are
   all known is used, and the language's neutral form comes last, so a missing name never leaves a
   gap ("Dear ,", "Frau ,", a double space).

The rules in brief (female / male / unknown gender; MEP, minister, president, neutral with a name /
without any name):

- en: Dear Ms Abadía Jover, / Dear Mr Aaltola, / Dear Sibylle Berg,; Dear Minister,; Dear President
  Metsola,; Dear Sibylle Berg, / Dear Sir or Madam,
- fr: Madame la Députée, / Monsieur le Député, / both; Madame la Ministre, / Monsieur le Ministre,;
  Madame la Présidente, / Monsieur le Président,; Madame, Monsieur, (French names no one)
- de: Sehr geehrte Frau Abgeordnete Abadía Jover, / Sehr geehrter Herr Abgeordneter Aaltola,;
  Sehr geehrte Frau Ministerin, / Herr Minister,; Frau Präsidentin, / Herr Präsident,;
  Guten Tag Sibylle Berg, / Sehr geehrte Damen und Herren,
- es (colon): Estimada señora diputada: / Estimado señor diputado:; … ministra: / ministro:;
  … presidenta: / presidente:; Estimado/a Sibylle Berg: / Estimado/a señor/a:
- it: Gentile Onorevole Abadía Jover, / Egregio Onorevole Aaltola, / Gentile Onorevole Berg,;
  Gentile Ministra, / Egregio Ministro,; Gentile Presidente, / Egregio Presidente,;
  Gentile Sibylle Berg, / Gentili Signore e Signori,
- nl: Geachte mevrouw Abadía Jover, / Geachte heer Aaltola,; Geachte minister,; Geachte voorzitter,
  (a head of state: Geachte president,); Geachte Sibylle Berg, / Geachte heer of mevrouw,
- pl: Szanowna Pani Poseł, / Szanowny Panie Pośle,; Szanowna Pani Minister, / Szanowny Panie
  Ministrze,; Szanowna Pani Przewodnicząca, / Szanowny Panie Przewodniczący, (a head of state:
  Pani Prezydent / Panie Prezydencie); Szanowni Państwo, (with or without a name)
- pt: Excelentíssima Senhora Deputada, / Excelentíssimo Senhor Deputado, / Exmo.(a) Senhor(a)
  Deputado(a),; … Ministra, / Ministro,; … Presidente,; Exmo.(a) Senhor(a),

Decisions:

- Names are not split. The bundled leaders (Ursula von der Leyen, António Costa) have only a
  display name; contacts.bundled does not split it because that would be a guess, and neither does
  this module: no rule derives a family name reliably from a display name (family-name-first
  orders, several given names, particles, double surnames). So the English greeting of a president
  without a family name is their recorded position, "Dear President of the European Council,"
  (what letters said before and what tests pin), and "Dear President," without one; with a family
  name it is "Dear President Metsola,". Staff who want "Dear President von der Leyen," set the
  given and family names, or an override.
- Those two leaders have no recorded gender either, so in gendered languages they get the neutral
  forms ("Madame la Présidente, Monsieur le Président,", "Guten Tag Ursula von der Leyen,"), until
  a gender is recorded; Italian, Dutch and Portuguese have epicene titles ("Gentile Presidente,",
  "Geachte voorzitter,").
- Unknown gender, the neutral form: the full name where the language has a formal greeting that
  takes it without a gendered word (en "Dear Sibylle Berg,", de "Guten Tag Sibylle Berg,", nl
  "Geachte Sibylle Berg,", it "Gentile Sibylle Berg,", es "Estimado/a Sibylle Berg:"); an office
  title that is the same for everyone where there is one ("Dear Minister,", "Geachte minister,",
  "Gentile Onorevole Berg,"); otherwise the language's double form, with the office where that is
  idiomatic (fr "Madame la Députée, Monsieur le Député,", pt "Exmo.(a) Senhor(a) Deputado(a),",
  pl "Szanowni Państwo,"). "Sehr geehrte Damen und Herren," and its equivalents only when no name
  is known at all.
- Conventions kept: Spanish closes with a colon; French, Polish and Portuguese greet the office or
  the person without the surname; German addresses the envelope in the accusative ("Herrn
  Abgeordneten …"). English keeps academic and other titles of the honorific field ("Dear Dr
  Berg,"); the other languages only know Ms/Mr from the gender: overrides cover the rest (a Prime
  Minister's protocol form, "Son Excellence", a professor).
- Address lines: English appends the recorded position; the other languages say the office in the
  language, with the institution translated for the Commission, the European Council, the
  Parliament and the Council ("présidente du Parlement européen"), because the recorded position
  is English. A position they cannot translate (a ministry) is left out rather than mixed in.
"""

from __future__ import annotations

import re
from string import Formatter

from contacts.address_rules import (
    DEFAULT_LANGUAGE,
    EN,
    FALLBACK_ROLE,
    INSTITUTIONS,
    MEP,
    MINISTER,
    OTHER,
    PRESIDENT,
    RULES,
    STATE_PRESIDENT,
    STATE_VICE_PRESIDENT,
    VICE_PRESIDENT,
    F,
    Forms,
    LanguageRules,
    M,
    X,
)
from contacts.models import Contact

_HONORIFICS = {
    "MR": "Mr",
    "MS": "Ms",
    "MRS": "Mrs",
    "MISS": "Miss",
    "MX": "Mx",
    "DR": "Dr",
    "PROF": "Prof",
}
_FEMALE_HONORIFICS = {"MS", "MRS", "MISS"}
_MALE_HONORIFICS = {"MR"}

_VICE_PRESIDENT = re.compile(r"\bvice[-\s]?pr[eéä]sident|\bvizepr[äa]sident", re.IGNORECASE)
_PRESIDENT = re.compile(r"\bpr[eéä]sident", re.IGNORECASE)
_PRIME_MINISTER = re.compile(r"\bprime\s+minister\b", re.IGNORECASE)
_MINISTER = re.compile(r"\bminist(?:er|erin|re|ro|ra)\b", re.IGNORECASE)
_HEAD_OF_STATE = re.compile(r"\b(?:republic|head of state|federal president)\b", re.IGNORECASE)


def _clean(text: str | None) -> str:
    """One line, single spaces: what a name may contribute to a form."""
    return " ".join((text or "").split())


def honorific(contact: Contact) -> str:
    """The courtesy title in English ("Mr", "Ms"), from the record or the gender, or ""."""
    if contact.honorific and contact.honorific.strip():
        return _HONORIFICS.get(
            contact.honorific.strip().upper().rstrip("."), _clean(contact.honorific)
        )
    if contact.gender:
        return {"MALE": "Mr", "FEMALE": "Ms"}.get(contact.gender.strip().upper(), "")
    return ""


def formal_name(contact: Contact) -> str:
    """ "Ms Abadía Jover": the title and family name, or the display name when no family name."""
    family = _clean(contact.family_name)
    if not family:
        return _clean(contact.display_name)
    title = honorific(contact)
    return f"{title} {family}" if title else _clean(f"{contact.given_name or ''} {family}")


def language_code(language: str | None) -> str:
    """The language whose rules apply: "fr-BE" -> "fr"; unknown or none -> "en"."""
    base = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in RULES else DEFAULT_LANGUAGE


def grammatical_gender(contact: Contact) -> str:
    """ "f", "m" or "x" (unknown): the recorded gender, else the honorific; never a guess."""
    gender = (contact.gender or "").strip().upper()
    if gender == "FEMALE":
        return F
    if gender == "MALE":
        return M
    title = (contact.honorific or "").strip().upper().rstrip(".")
    if title in _FEMALE_HONORIFICS:
        return F
    if title in _MALE_HONORIFICS:
        return M
    return X


def role(contact: Contact) -> str:
    """The role the forms depend on (see the module doc): mep, minister, president, ..."""
    position = contact.position or ""
    if _VICE_PRESIDENT.search(position):
        return STATE_VICE_PRESIDENT if _is_head_of_state(contact) else VICE_PRESIDENT
    if _PRESIDENT.search(position):
        return STATE_PRESIDENT if _is_head_of_state(contact) else PRESIDENT
    if _PRIME_MINISTER.search(position):
        without_prime = _PRIME_MINISTER.sub("", position)
        return MINISTER if _MINISTER.search(without_prime) else OTHER
    if contact.kind == MINISTER or _MINISTER.search(position):
        return MINISTER
    if contact.kind == MEP:
        return MEP
    return OTHER


def _is_head_of_state(contact: Contact) -> bool:
    return _institution(contact) is None and bool(_HEAD_OF_STATE.search(contact.position or ""))


def _institution(contact: Contact) -> str | None:
    """The EU institution the position or the organisation names, as a key of the rules."""
    for text in (contact.position, contact.organisation):
        lowered = _clean(text).lower()
        for key in INSTITUTIONS:  # the longest name first: "council of the european union"
            if key in lowered:
                return key
    return None


def _override(overrides: dict[str, str] | None, language: str | None) -> str | None:
    """The contact's own form for the language: exact tag, then language, then English when the
    language falls back to English. Blank overrides do not count."""
    if not overrides:
        return None
    by_tag = {
        str(key).strip().lower().replace("_", "-"): value
        for key, value in overrides.items()
        if isinstance(value, str) and value.strip()
    }
    tag = (language or "").strip().lower().replace("_", "-")
    code = language_code(language)
    for key in (tag, tag.split("-")[0], code):
        if key and key in by_tag:
            return by_tag[key].strip()
    return None


def _values(contact: Contact, rules: LanguageRules, role_: str) -> dict[str, str]:
    given = _clean(contact.given_name)
    family = _clean(contact.family_name)
    # Both names, or none: "Dear Berg," is not a greeting.
    given_family = f"{given} {family}" if given and family else ""
    institution = _institution(contact)
    inst, inst_of = rules.institutions.get(institution, ("", "")) if institution else ("", "")
    position = _clean(contact.position) or rules.default_positions.get(
        FALLBACK_ROLE.get(role_, role_), ""
    )
    return {
        "family": family,
        "given_family": given_family,
        "full": given_family or _clean(contact.display_name) or family,
        "hon": honorific(contact) if rules is EN else "",
        "position": position if rules is EN else "",
        "inst": inst,
        "inst_of": inst_of,
    }


def _fill(template: str, values: dict[str, str]) -> str | None:
    """The template with its placeholders filled, or None when one of them has no value."""
    names = [name for _, name, _, _ in Formatter().parse(template) if name is not None]
    if any(not values.get(name) for name in names):
        return None
    return _clean(template.format(**values))


def _form(table: dict[str, Forms], neutral: str, contact: Contact, language: str | None) -> str:
    rules = RULES[language_code(language)]
    role_ = role(contact)
    forms = table.get(role_) or table[FALLBACK_ROLE.get(role_, role_)]
    values = _values(contact, rules, role_)
    for template in (*forms[grammatical_gender(contact)], neutral):
        filled = _fill(template, values)
        if filled:
            return filled
    return neutral  # unreachable: the neutral form has no placeholders


def salutation(contact: Contact, language: str | None = DEFAULT_LANGUAGE) -> str:
    """The opening line of a letter in the language, e.g. "Dear Ms Abadía Jover," (never "Dear ,")."""
    override = _override(contact.salutation_overrides, language)
    if override:
        return override
    rules = RULES[language_code(language)]
    return _form(rules.salutations, rules.neutral_salutation, contact, language)


def address_line(contact: Contact, language: str | None = DEFAULT_LANGUAGE) -> str:
    """The line naming the recipient, e.g. "Ms Maravillas Abadía Jover, Member of the European
    Parliament" or "Frau Abgeordnete Maravillas Abadía Jover"."""
    override = _override(contact.address_line_overrides, language)
    if override:
        return override
    rules = RULES[language_code(language)]
    return _form(rules.address_lines, rules.neutral_address, contact, language)
