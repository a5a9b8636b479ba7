"""The public pages' catalogues: every message of the code and templates is translated into
French and German, and the committed .mo files are the compiled form of their .po files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "outreach" / "translations"


def _method_map() -> list[tuple[str, str]]:
    """The files pybabel extracts from, as babel.cfg names them (`[method: pattern]`)."""
    sections = []
    for line in (TRANSLATIONS / "babel.cfg").read_text(encoding="utf-8").splitlines():
        if line.startswith("[") and line.endswith("]"):
            method, _, pattern = line[1:-1].partition(":")
            sections.append((pattern.strip(), method.strip()))
    return sections


def test_the_catalogues_cover_the_mep_reply_question() -> None:
    """The supporter's "did your MEP reply?" mail and answer page are in the catalogues too."""
    assert ("templates/emails/mep_reply_question/**.txt", "jinja2") in _method_map()
    assert ("templates/replies/mep_answer.html", "jinja2") in _method_map()
    assert {"Did your MEP reply? %(campaign)s", "Did %(mep)s reply?", "not sure"} <= _extracted()


def _extracted() -> set[str]:
    method_map = _method_map()
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None}
    ids: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, keywords=keywords
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


@pytest.mark.parametrize("language", ["fr", "de"])
def test_every_public_message_is_translated_and_compiled(language: str) -> None:
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale=language)
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in catalog if m.id}
    missing = sorted(i for i in _extracted() if not translated.get(i))
    assert missing == [], f"untranslated in {language}: {missing}"
    # The .mo is what the app reads: it must be the compiled .po (run `pybabel compile`).
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    with open(folder / "messages.mo", "rb") as fh:
        committed = read_mo(fh)
    assert {repr(m.id): repr(m.string) for m in read_mo(compiled) if m.id} == {
        repr(m.id): repr(m.string) for m in committed if m.id
    }
