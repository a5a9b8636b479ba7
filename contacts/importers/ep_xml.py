"""The European Parliament's "full list" of MEPs (XML), as downloaded from europarl.europa.eu.

One ``<mep>`` element per sitting MEP: ``fullName``, ``country``, ``politicalGroup``, ``id`` and
``nationalPoliticalGroup``. The file is the complete list of sitting MEPs, so the parsed file says
so (``complete_list_of="mep"``) and the import engine retires the MEPs it no longer lists; but only
when no element was rejected, since a rejected MEP is missing from the records without having left.

Names. The EP writes the family name in capitals ("Maravillas ABADÍA JOVER"). The given name is
copied as written; the family name's case is restored only where that is certain: every word is
capitalised ("Abadía Jover", "Al-Sahlani" would not be: see below), "MC" becomes "Mc". Where the
case cannot be known, since the same particle is written both ways in the EP's own data ("van den
Berg" but "Van Brempt", "de la Hoz" but "De Meo", "Moreira de Sá" but "Cotrim De Figueiredo"), or
for "Mac", "Al-", or an apostrophe other than "O'", the family name is left None (the file says
nothing about it: an existing family name stays) and the display name is the EP's own form,
capitals included ("Brigitte VAN DEN BERG"); the given name, copied as written, is still given.
The import engine does not let a display name that differs from the stored one only in case
overwrite it, so a better-cased name from the bundled list or the API stays. On the 719 MEPs of
October 2025: 693 family names are restored, 692 of them exactly as the EP's API writes them (the
other differs in a letter: Ş against Ș, not in case); 26 are left to other sources.

Letters are never replaced: the EP writes some Romanian names with a cedilla (Ş) and others with a
comma below (Ș), and not always the same way in its XML and its API; the XML's spelling is kept.

Elements are numbered from 1 in the file's order; a RowError's line is that number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from contacts.bundled import EUROPEAN_PARLIAMENT
from contacts.countries import normalise_country_code
from contacts.importers.common import Progress, clean, one_line, political_group
from contacts.models import ContactKind
from contacts.records import ContactRecord, ImportFileError, ParsedFile, RowError

SOURCE_KIND = "ep_xml"

# Words whose case varies from one family name to the next in the EP's own data (and in the
# conventions of the languages the EP's members write their names in): never guessed.
_PARTICLES = frozenset(
    ("a", "al", "am", "an", "av", "af", "ben", "bin", "d", "da", "dal", "dalla", "das", "de", "dei",
     "degli", "del", "della", "delle", "dello", "der", "des", "di", "do", "dos", "du", "e", "el",
     "het", "i", "im", "l", "la", "las", "le", "les", "lo", "los", "op", "san", "santa", "st", "te",
     "ten", "ter", "van", "vande", "vanden", "vom", "von", "y", "zu", "zum", "zur")
)  # fmt: skip
_APOSTROPHES = "'\u2019"  # the straight and the typographic apostrophe


@dataclass(frozen=True)
class EpName:
    """A name of the full list, split into given and family names where that is certain."""

    given: str | None
    family: str | None  # None when the case of the family name cannot be restored with certainty
    display: str
    # The family name with every word capitalised, whether or not that is certain (for measures).
    family_guess: str | None


def _is_capitals(word: str) -> bool:
    return any(c.isupper() for c in word) and not any(c.islower() for c in word)


def _capitalise(piece: str) -> str:
    # str.lower() maps the capital sharp s (ẞ) to ß, as German writes it ("Boßdorf").
    return piece[:1] + piece[1:].lower()


def _restore_word(word: str) -> tuple[str, bool]:
    """ "ABADÍA" -> ("Abadía", True); the flag says whether the case is certain."""
    sure = True
    out: list[str] = []
    for piece in re.split("([-'\u2019])", word):
        if piece in ("-", *_APOSTROPHES) or not piece:
            out.append(piece)
            continue
        if piece.casefold() in _PARTICLES or piece.startswith("MAC"):
            sure = False
        if piece.startswith("MC") and len(piece) > 2:
            out.append("Mc" + _capitalise(piece[2:]))
        else:
            out.append(_capitalise(piece))
    restored = "".join(out)
    for mark in _APOSTROPHES:
        # "d'Ornano" or "D'Amato": both are written. "O'" is always a capital, and a final
        # apostrophe stands for an accent ("PEDULLA'" for Pedullà).
        if mark in word.rstrip(mark) and not re.match(rf"O{mark}\w", word):
            sure = False
    return restored, sure


def split_ep_name(full_name: str) -> EpName:
    """Split an EP full-list name ("Ana Catarina MENDES") into given and family names."""
    text = " ".join(full_name.split())
    words = text.split(" ")
    start = len(words)
    while start > 0 and _is_capitals(words[start - 1]):
        start -= 1
    given = " ".join(words[:start])
    if not given or start == len(words):
        # No capitalised family name, or nothing but capitals: nothing is certain.
        return EpName(given=None, family=None, display=text, family_guess=None)
    restored = [_restore_word(word) for word in words[start:]]
    guess = " ".join(word for word, _sure in restored)
    if all(sure for _word, sure in restored):
        return EpName(given=given, family=guess, display=f"{given} {guess}", family_guess=guess)
    return EpName(given=given, family=None, display=text, family_guess=guess)


def _fail(message: str, filename: str | None) -> ImportFileError:
    return ImportFileError(f"{filename or 'the file'}: {message}")


def _root(data: bytes, filename: str | None) -> Element:
    try:
        root: Element = SafeET.fromstring(data)
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        # ElementTree counts columns from 0; editors count them from 1.
        # The message repeats the position ("mismatched tag: line 4, column 2"): say it once.
        reason = re.sub(r":? ?line \d+, column \d+$", "", str(exc.msg))
        raise _fail(
            f"not well-formed XML at line {line}, column {column + 1}: {reason}", filename
        ) from None
    except DefusedXmlException as exc:
        raise _fail(
            f"refused: the XML declares a DTD or entities ({exc.__class__.__name__}), which the "
            "EP's list never does (entity expansion is how XML bombs work)",
            filename,
        ) from exc
    if root.tag != "meps":
        raise _fail(f"not the EP's full list of MEPs: the root element is <{root.tag}>", filename)
    return root


def parse_ep_xml(
    data: bytes, *, filename: str | None = None, progress: Progress | None = None
) -> ParsedFile:
    """Parse the EP's full-list XML into MEP records; broken XML raises ImportFileError."""
    root = _root(data, filename)
    elements = [child for child in root if child.tag == "mep"]
    if not elements:
        raise _fail("the list holds no <mep> element", filename)

    parsed = ParsedFile(source_kind=SOURCE_KIND, filename=filename)
    lost = False  # an element was rejected, so the records are not the complete list
    for index, element in enumerate(elements, start=1):
        record, error = _record(element, index)
        if error is not None:
            parsed.errors.append(error)
            lost = True
        if record is not None:
            parsed.records.append(record)
        if progress is not None:
            progress(index, len(elements))
    parsed.complete_list_of = None if lost else ContactKind.MEP.value
    return parsed


def _record(element: Element, index: int) -> tuple[ContactRecord | None, RowError | None]:
    full_name = one_line(element.findtext("fullName"))
    ep_id = clean(element.findtext("id"))
    if not ep_id:
        return None, RowError(index, "no EP id", full_name)
    if not ep_id.isdigit():
        return None, RowError(index, "the EP id is not a number", ep_id)
    if not full_name:
        return None, RowError(index, "no name", ep_id)

    country = clean(element.findtext("country"))
    country_code = normalise_country_code(country)
    if country and country_code is None:
        return None, RowError(index, "unknown country", country)

    name = split_ep_name(full_name)
    group, group_short = political_group(one_line(element.findtext("politicalGroup")))
    record = ContactRecord(
        line=index,
        kind=ContactKind.MEP.value,
        ep_id=ep_id,
        given_name=name.given,
        family_name=name.family,
        display_name=name.display,
        country_code=country_code,
        organisation=EUROPEAN_PARLIAMENT,
        political_group=group,
        political_group_short=group_short,
        national_party=one_line(element.findtext("nationalPoliticalGroup")),
    )
    return record, None
