"""Formatting a copy by the drive's plan gives exactly what formatting its whole Markdown gives.

A body template prints a stand-in for each value and keeps the values aside; every copy of a drive
is then formatted from one plan (outreach.letters.formatting): runs of pieces without values come
from a cache, and a one-paragraph piece with values is formatted once with its stand-ins and filled
in per copy. These tests prove that this shortcut never changes a letter: for templates that put
values next to every kind of Markdown (emphasis, hard breaks, links, code, entities, list markers,
line starts) and values of every kind (punctuation at either edge, spaces, digits, control and
private-use characters), the HTML and the text of each copy are those of its Markdown formatted in
one piece, and the Markdown is the template with each value escaped.
"""

from __future__ import annotations

import random
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Contact
from outreach.letters import formatting
from outreach.letters.formatting import (
    RenderedBody,
    escape_markdown,
    format_body,
    format_letter,
    split_blocks,
    stand_in_for,
)
from outreach.letters.render import CampaignLetter, LetterMeta, SignatoryView

# Literal template text that meets a value: markup on either side, line starts, list markers.
LITERALS = [
    "**", "*", "_", "__", "\\", "\n", "  \n", "\\\n", "\n\n", " ", "[", "](https://e.org/", ")",
    "](", "`", "&", "amp;", "<", ">", "1. ", "- ", "> ", "# ", ".", "!", "Dear ", ",", "x", "é",
    "«", "»", "   ", "\t", "\n\n[r]: https://e.org/r\n\n", "[r]", "\n===\n", "<https://", "\n- ",
    "\n\n1. ", "\n   ", "2", "\n\n> ",
]  # fmt: skip
VALUE_CHARACTERS = st.sampled_from(
    list("aZ09 .,;:!?*_-+#<>&[]()\\`'\"«»—€é\u00a0\t\n\r\x00\x07\x85\ue002\ue003\u2003")
)
VALUES = st.text(VALUE_CHARACTERS, max_size=12) | st.sampled_from(
    ["Ms Ana Abadía Jover", "12", " 7 ", "", " ", "O'Brien", "(EPP)", "«Ana»", "https://e.org/x"]
)


def copy_of(template: list[str | int], values: list[str]) -> tuple[RenderedBody, str]:
    """What a body template made of `template` (literal text, or the number of a value) prints:
    the body with stand-ins, and the Markdown with each value escaped."""
    skeleton: list[str] = []
    kept: list[str] = []
    markdown: list[str] = []
    for part in template:
        if isinstance(part, int):
            skeleton.append(stand_in_for(values[part], kept))
            markdown.append(escape_markdown(values[part]))
        else:
            skeleton.append(part)
            markdown.append(part)
    return RenderedBody("".join(skeleton), tuple(kept)), "".join(markdown)


def assert_formats_as_its_markdown(body: RenderedBody, markdown: str) -> None:
    assert body.markdown() == markdown
    planned = format_body(body, subject="S")
    whole = format_letter(markdown, subject="S")
    assert planned.html == whole.html
    assert planned.text == whole.text
    # and the pieces of format_letter are what the whole text formats to in one piece
    in_one = formatting._format_block(markdown, shortcut=False)
    assert formatting._text([in_one], 72) == whole.text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(LITERALS) | st.integers(0, 3), max_size=24),
    st.lists(VALUES, min_size=4, max_size=4),
)
def test_any_template_and_values_format_by_plan_as_their_markdown(
    template: list[str | int], values: list[str]
) -> None:
    body, markdown = copy_of(template, values)
    assert_formats_as_its_markdown(body, markdown)


def test_many_copies_of_one_template_each_format_as_their_own_markdown() -> None:
    """The plan and the shapes are cached after the first copy: later copies, with other values
    of every kind, still come out as their own Markdown."""
    rng = random.Random(7)
    pool = ["Ms Ana Abadía Jover", "12", "(EPP)", "«Ana»", "a*b*", " x ", "x ", " x", "\\", "é.",
            "Dr. O'Brien, MEP", "1.", "&amp;", "`c`", "[a](b)", "\x00", "\x07bell", "—", "."]  # fmt: skip
    templates: list[list[str | int]] = [
        ["**To:** ", 0, "\\\n**CC:** the ministers\n\nBrussels, ", 1, "\n\n", 2, "\n\nText."],
        ["Dear ", 0, ",\n\nWe write about **", 1, "**_", 2, "_ and [", 3, "](https://e.org/)."],
        [0, ". ", 1, "\n\n", 2, "  \n", 3, "\n\n- item ", 0, "\n- ", 1],
        ["*", 0, "*", 1, "**", 2, "**", 3, "\\", "\n", 0, " ", 1, "\n\n> ", 2, " said ", 3],
    ]
    for template in templates:
        for _ in range(150):
            values = [rng.choice(pool) for _ in range(4)]
            body, markdown = copy_of(template, values)
            assert_formats_as_its_markdown(body, markdown)


def test_numbers_and_control_characters_are_printed_as_themselves_not_stood_in_for() -> None:
    kept: list[str] = []
    assert stand_in_for("12", kept) == "12"
    assert stand_in_for(" ", kept) == " "
    assert stand_in_for("a\x07b", kept) == "a\x07b"
    assert stand_in_for(12, kept) == "12"
    assert kept == []
    assert stand_in_for("Ana", kept) != "Ana"
    assert kept == ["Ana"]


def test_stand_in_characters_in_data_become_replacement_characters() -> None:
    body, markdown = copy_of(["Dear ", 0, ","], ["A\ue002na\ue0030\ue003"])
    assert "\ue002" not in markdown
    assert "\ufffd" in markdown
    assert_formats_as_its_markdown(body, markdown)


def test_cutting_runs_of_pieces_formats_as_the_whole_text() -> None:
    text = "A\n\n\n\n- b\n\n  c\n\n> d\n\nE **f**\n\n1. g\n\n   h\n\nI"
    runs = formatting._blocks(split_blocks(text))
    whole = formatting._format_block(text, shortcut=False)
    assert "".join(block.html for block in runs) == whole.html
    assert formatting._text(runs, 72) == formatting._text([whole], 72)


def test_a_letter_rendered_through_the_sandbox_is_its_markdown_formatted() -> None:
    """The whole path: Jinja's finalize prints the stand-ins, the copy keeps the values, and the
    copy's parts are those of its Markdown."""
    letter = CampaignLetter(
        {
            "en": (
                "Letter to {{ recipient.formal_name }}",
                "**To:** {{ address_line }}\\\n**CC:** all\n\n{{ salutation }}\n\n"
                "Dated {{ today|date }}; {{ cosigners.count }} co-signers.\n\n"
                "{% for s in signatories %}[{{ s.name }}]({{ s.url }}){% if not loop.last %}\\\n"
                "{% endif %}{% endfor %}",
            )
        },
        "en",
    )
    meta = LetterMeta(
        "Drive",
        signatories=(
            SignatoryView("Rights *Watch*", "https://rights.example.org"),
            SignatoryView("Forum & [x]", "https://forum.example.org"),
        ),
        today=date(2026, 11, 29),
    )
    for given_name, family_name in [("Ana", "Abadía Jover"), ("Jan*", "_de Vries_"), ("Ó", "12")]:
        contact = Contact(
            kind="mep", given_name=given_name, family_name=family_name,
            display_name=f"{given_name} {family_name}", gender="FEMALE", country_code="NL",
            languages=["en"], position="Member of the European Parliament",
            organisation="European Parliament", salutation_overrides={}, address_line_overrides={},
        )  # fmt: skip
        copy = letter.render(contact, meta, language="en")
        whole = format_letter(copy.markdown, subject=copy.subject, language="en")
        assert (copy.html, copy.text) == (whole.html, whole.text)
        assert escape_markdown(family_name) in copy.markdown
