"""A rendered letter body (Markdown) becomes an inlined-CSS HTML document and a wrapped plain text.

Recipient data is interpolated into the Markdown before it gets here, so every test of a hostile
value checks both parts: escaped and inert in the HTML, literal in the text.
"""

from __future__ import annotations

import html as html_lib
import random
import re

import pytest
from markupsafe import Markup

from outreach.letters import formatting
from outreach.letters.formatting import (
    FormattedLetter,
    escape_markdown,
    format_letter,
    html_fragment,
    plain_text,
    split_blocks,
)

LETTER = (
    """\
Dear Ms Lindqvist,

We write on behalf of our organisations ahead of the **informal meeting of foreign ministers** \
next month. Our joint [report](https://example.org/report) sets out new cases of journalists and \
lawyers held without charge.

The situation has **worsened since the spring**, and the Council has the means to respond. We ask \
the Council to:

1. Raise the cases of **detained journalists** at the opening session.
2. Adopt targeted measures against the officials responsible for the detentions, in step with \
partners who have already acted, and report to Parliament before the end of the year.
3. Meet civil society before the next round of talks.

> Those who document abuses must be able to do so without fear.

Yours sincerely,

"""
    # the signatory block: a hard break by two trailing spaces, then by a backslash
    "Coalition for Open Courts  \n"
    "Press Freedom Network\\\n"
    "Teachers' Rights Forum\n"
)

LETTER_TEXT = """\
Dear Ms Lindqvist,

We write on behalf of our organisations ahead of the *informal meeting
of foreign ministers* next month. Our joint report [1] sets out new
cases of journalists and lawyers held without charge.

The situation has *worsened since the spring*, and the Council has the
means to respond. We ask the Council to:

1. Raise the cases of *detained journalists* at the opening session.
2. Adopt targeted measures against the officials responsible for the
   detentions, in step with partners who have already acted, and report
   to Parliament before the end of the year.
3. Meet civil society before the next round of talks.

> Those who document abuses must be able to do so without fear.

Yours sincerely,

Coalition for Open Courts
Press Freedom Network
Teachers' Rights Forum

Links:
[1] https://example.org/report
"""

HOSTILE_VALUES = [
    "<script>alert(1)</script>",
    "](javascript:alert(1))",
    "Lindqvist\r\nBcc: x@example.org",
    "Smith &amp; Jones &lt;b&gt; &#60;i&#62;",
    "**Bold** _claim_ `code` ![img](https://example.org/x.png) # not a heading",
]


def _hrefs(document: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', document)


def _reflowed(text: str) -> str:
    """The plain text as one line of words, without the quote prefixes that wrapping adds."""
    return " ".join(re.sub(r"(?m)^>( |$)", "", text).split())


def _visible_text(document: str) -> str:
    """The body's text as a reader sees it: tags removed, entities decoded, lines joined."""
    body = document[document.index("<body") : document.index("</body>")]
    return " ".join(html_lib.unescape(re.sub(r"<[^>]*>", "", body)).split())


def test_a_letter_of_the_usual_shape_has_this_exact_plain_text() -> None:
    assert format_letter(LETTER, subject="Meeting of foreign ministers").text == LETTER_TEXT


def test_every_plain_text_line_fits_in_72_columns_and_ends_in_lf() -> None:
    text = format_letter(LETTER.replace("\n", "\r\n"), subject="S").text
    assert text == LETTER_TEXT
    assert "\r" not in text
    assert max(len(line) for line in text.splitlines()) <= 72


def test_the_html_part_is_a_complete_document_with_the_styles_inlined() -> None:
    document = format_letter(LETTER, subject="Meeting of foreign ministers", language="sv").html
    assert document.startswith("<!DOCTYPE html>")
    assert '<html lang="sv">' in document
    assert "<title>Meeting of foreign ministers</title>" in document
    assert "<style" not in document
    assert "<script" not in document
    assert "max-width: 640px" in document
    assert re.search(r'<div class="page" style="[^"]*font-family: Georgia[^"]*serif', document)
    assert re.search(r'<p style="[^"]*margin: 0 0 1em 0', document)
    assert re.search(r'<li style="[^"]*page-break-inside: avoid', document)
    assert re.search(r'<blockquote style="[^"]*border-left: 3px solid', document)
    assert re.search(r"<strong>informal meeting of foreign ministers</strong>", document)


def test_the_html_link_keeps_its_href_and_opens_without_opener() -> None:
    document = format_letter(LETTER, subject="S").html
    link = re.search(r"<a [^>]*>report</a>", document)
    assert link is not None
    assert 'href="https://example.org/report"' in link.group(0)
    assert 'rel="noopener"' in link.group(0)
    assert re.search(r'style="[^"]*text-decoration: underline', link.group(0))


def test_the_html_list_keeps_the_demands_in_order_and_the_signatories_on_their_lines() -> None:
    document = format_letter(LETTER, subject="S").html
    items = re.findall(r"<li[^>]*>(.*?)</li>", document, re.S)
    assert [re.sub(r"<[^>]*>", "", item).split()[0] for item in items] == ["Raise", "Adopt", "Meet"]
    assert "Coalition for Open Courts<br>\nPress Freedom Network<br>\nTeachers' Rights Forum" in (
        document
    )


def test_an_empty_body_gives_an_empty_text_and_a_page_without_content() -> None:
    for body in ("", "\n", "  \n\n \t\n"):
        letter = format_letter(body, subject="Nothing yet")
        assert letter == FormattedLetter(html=letter.html, text="")
        assert "<title>Nothing yet</title>" in letter.html
        assert _visible_text(letter.html) == ""


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_hostile_recipient_field_comes_out_literal_in_both_parts(value: str) -> None:
    """The body template's placeholders are escaped by escape_markdown (render.py's finalize)."""
    field = escape_markdown(value)
    body = (
        f"Dear {field},\n\n"
        f"Read the [report on {field}](https://example.org/report).\n\n"
        f"1. A demand for {field}.\n"
        f"2. Another demand.\n\n"
        f"> Quoted {field}\n"
    )
    letter = format_letter(body, subject=value.replace("\r\n", " "))
    literal = " ".join(value.split())  # a field is one line: CR/LF become a space

    assert "<script" not in letter.html
    assert "javascript" not in "".join(_hrefs(letter.html))
    assert _hrefs(letter.html) == ["https://example.org/report"]
    for tag in ("<b>", "<i>", "<img", "<em>", "<code>", "<h1"):
        assert tag not in letter.html
    assert _visible_text(letter.html).count(literal) == 4

    assert "\r" not in letter.html
    assert "\r" not in letter.text
    assert not any(line.startswith("Bcc:") for line in letter.text.splitlines())
    assert _reflowed(letter.text).count(literal) == 4
    assert _reflowed(letter.text).startswith(f"Dear {literal}, Read the report on {literal} [1]")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_hostile_field_interpolated_without_escaping_still_cannot_make_markup(value: str) -> None:
    """The second lock: raw HTML is off, only http(s)/mailto links survive, nh3 cleans the rest."""
    letter = format_letter(
        f"Dear {value},\n\nSee [the report on {value}](https://x.org/r).\n", subject="S"
    )
    assert "<script" not in letter.html
    assert all(href == "https://x.org/r" for href in _hrefs(letter.html))
    for tag in ("<b>", "<i>", "<img"):
        assert tag not in letter.html
    assert "\r" not in letter.html
    assert "\r" not in letter.text
    assert not any(line.startswith("Bcc:") for line in letter.text.splitlines())


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "<javascript:alert(1)>",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "#",
        "/relative/path",
        "file:///etc/passwd",
    ],
)
def test_a_link_without_an_http_https_or_mailto_address_is_dropped_and_its_text_kept(
    href: str,
) -> None:
    letter = format_letter(f"Please read [our statement]({href}) today.", subject="S")
    assert "<a " not in letter.html
    assert "Please read our statement today." in _visible_text(letter.html)
    assert letter.text == "Please read our statement today.\n"


def test_raw_html_written_in_the_letter_is_shown_as_text_not_markup() -> None:
    letter = format_letter('Hello <b onclick="x()">there</b> <!-- note -->', subject="S")
    assert '&lt;b onclick="x()"&gt;there&lt;/b&gt; &lt;!-- note --&gt;' in letter.html
    assert letter.text == 'Hello <b onclick="x()">there</b> <!-- note -->\n'


def test_subject_and_language_are_escaped_or_refused_in_the_html_head() -> None:
    letter = format_letter("Hi", subject='Re: <EU> & "China"', language="pt-BR")
    assert '<html lang="pt-BR">' in letter.html
    assert "<title>Re: &lt;EU&gt; &amp; &#34;China&#34;</title>" in letter.html
    with pytest.raises(ValueError, match="language tag"):
        format_letter("Hi", subject="S", language='en" onload="x')


def test_links_are_numbered_once_per_address_and_an_address_shown_as_itself_is_not_numbered() -> (
    None
):
    text = plain_text(
        "See [the report](https://example.org/r), <https://example.org/plain>, "
        "[https://example.org/same](https://example.org/same) and <office@example.org>.\n\n"
        "Again, [the same report](https://example.org/r) and [the annex](https://example.org/a)."
    )
    assert text == (
        "See the report [1], https://example.org/plain, https://example.org/same\n"
        "and office@example.org.\n"
        "\n"
        "Again, the same report [1] and the annex [2].\n"
        "\n"
        "Links:\n"
        "[1] https://example.org/r\n"
        "[2] https://example.org/a\n"
    )


def test_a_long_url_is_never_broken_and_a_reference_stays_with_its_word() -> None:
    url = "https://example.org/" + "a-very-long-path-segment/" * 4 + "index.html"
    text = plain_text(
        f"The full evidence is at <{url}> for anyone to read.\n\n"
        + "word " * 13
        + "[report](https://x.org)"
    )
    lines = text.splitlines()
    assert url in lines
    assert "report [1]" in text
    assert not any(line.endswith("report") for line in lines)


def test_lists_keep_numbers_bullets_and_hanging_indents() -> None:
    text = plain_text(
        "7. Seventh demand, long enough to be wrapped onto a second line of the plain text part.\n"
        "8. Eighth\n"
        "   - a bullet under it with enough words to need a wrapped continuation line here\n"
        "   - a second bullet\n"
        "9. Ninth\n"
        "10. Tenth\n"
    )
    assert text == (
        "7.  Seventh demand, long enough to be wrapped onto a second line of the\n"
        "    plain text part.\n"
        "8.  Eighth\n"
        "    - a bullet under it with enough words to need a wrapped continuation\n"
        "      line here\n"
        "    - a second bullet\n"
        "9.  Ninth\n"
        "10. Tenth\n"
    )


def test_a_loose_list_keeps_a_blank_line_between_items() -> None:
    assert plain_text("1. One\n\n2. Two\n\n   More about two.\n") == (
        "1. One\n\n2. Two\n\n   More about two.\n"
    )


def test_headings_stand_on_their_own_line_and_quotes_are_prefixed() -> None:
    text = plain_text("# Re: the summit\nBody.\n\n#### Small\n\n> First.\n>\n> Second\n> line.")
    assert text == "Re: the summit\n\nBody.\n\nSmall\n\n> First.\n>\n> Second line.\n"
    assert "<h3>Small</h3>" in html_fragment("#### Small")


def test_only_the_allowed_tags_reach_the_html() -> None:
    fragment = html_fragment(
        "# H\n\n*em* **strong** `code` ![alt text](https://x.org/i.png)\n\n---\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n    indented\n\n```\nfenced\n```\n"
    )
    tags = set(re.findall(r"<([a-z0-9]+)", fragment))
    assert tags <= formatting.ALLOWED_TAGS
    assert "alt text" in fragment
    for tag in ("<img", "<table", "<pre"):
        assert tag not in fragment


@pytest.mark.parametrize(
    "value",
    ["O'Brien", "Smith & Jones", "1. Not a list", "#1 fan", "a\\b", "[x](y)", "  spaced\tout  "],
)
def test_escape_markdown_reads_back_as_the_value_itself(value: str) -> None:
    assert plain_text(escape_markdown(value)) == " ".join(value.split()) + "\n"


# --- compile once, format many: the cached pieces give exactly what one piece would --------------

TRICKY = [
    LETTER,
    "1. one\n\n2. two\n\n   two, more\n\nAfter the list.\n\n- a\n\n- b\n",
    "> one\n\n> two\n\nText\n===\n\n---\n\n* * *\n\nEnd",
    "See [the report][r] and [x](https://e.org/x).\n\n[r]: https://e.org/r\n\nMore [r].",
    "".join(f"Paragraph [{n}](https://e.org/{n}).\n\n" for n in range(12)) + "[a](https://e.org/3)",
    "Dear Ms Abadía Jover\\,\n\nA line\nwith a soft break and a non\xa0breaking space & more.",
    "Line one  \nline two\\\nline three\n\n\n\n  Indented paragraph\n\n1986\\. A year.\n",
    "- item\n\n      deep\n\n  back\n\nplain",
]


@pytest.mark.parametrize("text", TRICKY)
def test_formatting_piece_by_piece_gives_what_the_whole_text_gives(text: str) -> None:
    whole = formatting._format_block(text, shortcut=False)
    pieces = [formatting._block(piece) for piece in split_blocks(text)]
    assert "".join(piece.html for piece in pieces) == whole.html
    assert formatting._text(pieces, 72) == formatting._text([whole], 72)
    assert formatting._text(pieces, 40) == formatting._text([whole], 40)


def test_random_letters_cut_into_pieces_format_as_the_whole() -> None:
    parts = [
        "Plain paragraph.",
        "1. ordered",
        "2. next",
        "   indented continuation",
        "- bullet",
        "> quote",
        "# heading",
        "[link](https://e.org/l)",
        "***",
        "Text with **bold**",
        "Dear Ms Abadía Jover\\,",
        "ends with a hard break  ",
        "1) parenthesis item",
        "10. tenth",
        "    four spaces in",
        "===",
        "---",
        "> > nested quote",
        "- [link](https://e.org/l) in an item",
        "   ",
        "\t",
        "",
        "",
        "",
    ]
    rng = random.Random(4)
    for _ in range(1000):
        text = "\n".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        whole = formatting._format_block(text, shortcut=False)
        pieces = [formatting._block(piece) for piece in split_blocks(text)]
        assert "".join(piece.html for piece in pieces) == whole.html, text
        assert formatting._text(pieces, 72) == formatting._text([whole], 72), text


@pytest.mark.parametrize(
    "source",
    [
        "Dear Ms Abadía Jover\\,",
        "Dear Mr O\\'Brien\\, \\<b\\> \\& \\*co\\*",
        "Two lines\nof one paragraph, non\xa0breaking.",
        "Ends with two spaces  ",
        "1. a list",
        "2024) also a list",
        "# heading",
        "Hard break\\\nhere",
        "Entity &amp; here",
        "Title\n=====",
        " leading space",
        "A very long salutation line that certainly needs wrapping at the seventy-two column limit",
    ],
)
def test_the_plain_paragraph_shortcut_gives_what_the_parser_gives(source: str) -> None:
    assert formatting._format_block(source) == formatting._format_block(source, shortcut=False)


def test_the_precomputed_layout_is_the_layout_rendered_and_inlined() -> None:
    body = "Dear Ms Lindqvist,\n\nA **short** letter."
    letter = format_letter(body, subject="Re: <EU> & China", language="fr")
    page = formatting._layout_env.get_template(formatting.LAYOUT_TEMPLATE).render(
        language="fr",
        subject="Re: <EU> & China",
        body=Markup(formatting._html_fragment(formatting.parse(body))),  # noqa: S704 - nh3-clean
    )
    assert letter.html == formatting._inliner.inline(page)


def test_a_very_long_piece_is_formatted_every_time_and_never_kept_in_the_cache() -> None:
    formatting._cached_block.cache_clear()
    letter = format_letter("word " * 4000 + "\n\nShort.", subject="S")
    assert letter.text.count("word") == 4000
    assert letter.text.endswith("\n\nShort.\n")
    assert formatting._cached_block.cache_info().currsize == 1
