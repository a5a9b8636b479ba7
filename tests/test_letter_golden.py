"""Golden copies of the reference letter: three recipients, three languages, HTML and text.

The letter has the shape of the coalition letters in ../shared/examples/ (an address line and a CC
line, the date, a subject line, a salutation, bold passages, links, a quotation, a numbered list of
demands, a block of signatory organisations with hard line breaks), written for these tests in
English, German and French: tests/golden/letter-<lang>.md, whose first line is the subject.

Every copy is compared byte for byte with tests/golden/<role>-<lang>.html and .txt. After a
deliberate change to rendering, formatting, the layout or the forms of address, rewrite them with

    OUTREACH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_letter_golden.py

and review the diff (and a few of the HTML files in a browser) before committing it.
"""

from __future__ import annotations

import difflib
import os
from datetime import date
from pathlib import Path

import pytest

from contacts.models import Contact
from outreach.letters.render import CampaignLetter, LetterMeta, SenderView, SignatoryView

GOLDEN = Path(__file__).parent / "golden"
LANGUAGES = ("en", "de", "fr")
UPDATE = os.environ.get("OUTREACH_UPDATE_GOLDEN") == "1"
HOW_TO_UPDATE = (
    "if the change is intended, rewrite the golden files with "
    "OUTREACH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_letter_golden.py and review their diff"
)

META = LetterMeta(
    campaign_name="Transnational repression 2026",
    sender=SenderView("Coalition for Defenders in Exile", "letters@coalition.example.org"),
    signatories=(
        SignatoryView("Coalition for Defenders in Exile", "https://coalition.example.org"),
        SignatoryView("Rights Watch Europe", "https://rights.example.org"),
        SignatoryView("Association européenne des juristes pour les droits humains"),
        SignatoryView("Network of Exiled Journalists (NEJ)", "https://nej.example.org/en/"),
        SignatoryView("Uyghur & Tibetan Diaspora Forum"),
    ),
    today=date(2026, 11, 29),
)


def _contact(**values: object) -> Contact:
    return Contact(**{"salutation_overrides": {}, "address_line_overrides": {}, **values})


RECIPIENTS: dict[str, Contact] = {
    "president": _contact(
        kind="mep", honorific="MS", given_name="Helena", family_name="van den Berg",
        display_name="Helena van den Berg", gender="FEMALE", country_code="NL", languages=["nl"],
        position="President of the European Parliament", organisation="European Parliament",
        political_group_short="EPP", email="president@europarl.example.eu",
    ),
    "minister": _contact(
        kind="minister", honorific="MR", given_name="Jonas", family_name="Lindqvist",
        display_name="Jonas Lindqvist", gender="MALE", country_code="SE", languages=["sv"],
        position="Minister for Foreign Affairs", organisation="Ministry for Foreign Affairs",
        email="minister@gov.example.se",
    ),
    "mep": _contact(
        kind="mep", honorific="MS", given_name="Élodie", family_name="Marchand-Dubois",
        display_name="Élodie Marchand-Dubois", gender="FEMALE", country_code="FR",
        languages=["fr"], position="Member of the European Parliament",
        organisation="European Parliament", political_group_short="Renew",
        email="elodie.marchand-dubois@europarl.example.eu",
    ),
}  # fmt: skip


def letter_sources() -> dict[str, tuple[str, str]]:
    """{language: (subject, body)} from tests/golden/letter-<lang>.md ("Subject: ..." first)."""
    sources = {}
    for language in LANGUAGES:
        source = (GOLDEN / f"letter-{language}.md").read_text(encoding="utf-8")
        first, _, body = source.partition("\n\n")
        assert first.startswith("Subject: "), f"letter-{language}.md must start with 'Subject: '"
        sources[language] = (first.removeprefix("Subject: "), body)
    return sources


@pytest.fixture(scope="module")
def letter() -> CampaignLetter:
    return CampaignLetter(letter_sources(), "en")


def _check(path: Path, actual: str) -> None:
    data = actual.encode("utf-8")
    if UPDATE:
        path.write_bytes(data)
        return
    if not path.exists():
        pytest.fail(f"{path.name} does not exist yet; {HOW_TO_UPDATE}")
    expected = path.read_bytes()
    if expected == data:
        return
    diff = "".join(
        list(
            difflib.unified_diff(
                expected.decode("utf-8", "replace").splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{path.name} (golden)",
                f"{path.name} (rendered now)",
            )
        )[:60]
    )
    pytest.fail(f"{path.name} differs from the rendered copy; {HOW_TO_UPDATE}\n{diff}")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("role", list(RECIPIENTS))
def test_the_copy_matches_its_golden_files(
    letter: CampaignLetter, role: str, language: str
) -> None:
    copy = letter.render(RECIPIENTS[role], META, language=language)
    assert copy.language == language
    _check(GOLDEN / f"{role}-{language}.html", copy.html)
    _check(GOLDEN / f"{role}-{language}.txt", copy.text)


def test_the_golden_folder_holds_only_the_sources_and_the_copies() -> None:
    expected = {f"letter-{language}.md" for language in LANGUAGES} | {
        f"{role}-{language}.{ext}"
        for role in RECIPIENTS
        for language in LANGUAGES
        for ext in ("html", "txt")
    }
    present = {path.name for path in GOLDEN.iterdir()}
    assert present == expected, f"stale or missing golden files; {HOW_TO_UPDATE}"
