"""Whatever a contact record holds, a letter to them renders safely or is refused cleanly.

Contact data comes from imports and from staff typing: any field may hold right-to-left text,
emoji, CR, LF and other control characters, thousands of characters, nothing at all, or Markdown
and HTML. For any such record, in every field at once, rendering the reference letter (and a probe
letter that puts every field in every Markdown context) either succeeds or raises LetterError, and
a copy that renders:

* has a subject without CR or LF;
* builds into a message (or is refused with HeaderError, for a display name with a line break)
  whose header block is properly folded: every line is a new "Name: value" field or a
  continuation starting with a space or a tab (and not of white space only), no header value
  holds a bare CR or LF, and no header appears that the builder did not write;
* has HTML without a script, without a javascript: (or any other non-http/https/mailto) link,
  and with no element but those the letter layout and the Markdown allow-list produce.

"javascript:" may of course appear as *text* (a contact called "javascript:alert(1)" is greeted by
that name, escaped) and inside a harmless URL ("https://example.org/javascript:"); what must never
appear is a link or an attribute whose value starts with it.

Cases the property test found are also pinned as plain tests, so that they run every time, whatever
the random draw: RFC 2047 encoded words ("=?utf-8?q?...=0D=0ABcc:...?=") in the display name and in a
field the subject shows, which Python's email package decodes and would write out as raw CR LF (a
Bcc: header injected), and a display name of white space only, which folds into a continuation
line of nothing but white space (a line some parsers take for the end of the header block).
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Contact
from outreach.letters.formatting import ALLOWED_TAGS, LINK_SCHEMES
from outreach.letters.render import (
    CampaignLetter,
    LetterError,
    LetterMeta,
    SenderView,
    SignatoryView,
)
from outreach.mail.message import HeaderError, build_letter
from tests.test_letter_golden import letter_sources

META = LetterMeta(
    campaign_name="Transnational repression 2026",
    sender=SenderView("Coalition", "letters@example.org"),
    signatories=(
        SignatoryView("Rights Watch Europe", "https://rights.example.org"),
        SignatoryView("Forum <b>&</b> [x](javascript:alert(1))", "javascript:alert(1)"),
        SignatoryView("Plain Name"),
    ),
    today=date(2026, 11, 29),
)


# Every recipient field in every Markdown context a template can put it in.
_PROBE_SUBJECT = "{{ recipient.display_name }} / {{ recipient.position }} / {{ salutation }}"
_PROBE_BODY = """\
{{ address_line }}\\
{{ recipient.organisation }}

{{ salutation }}

**{{ recipient.display_name }}**, *{{ recipient.given_name }}* {{ recipient.family_name }}
{{ recipient.formal_name }} ({{ recipient.honorific }}) of {{ recipient.country }}

[{{ recipient.formal_name }}](https://example.org/{{ recipient.family_name }}) \
[{{ recipient.given_name }}]({{ recipient.organisation }}) \
[write](mailto:{{ recipient.email }}) <{{ recipient.email }}>

> {{ recipient.position }}
> {{ salutation }}

1. {{ recipient.political_group }}
2. {{ recipient.national_party }}\x20\x20
   {{ recipient.country_code }}

- {{ recipient.display_name }}

## {{ recipient.family_name }}

{% for s in signatories %}[{{ s.name }}]({{ s.url }}) {{ s.name }}\\
{% endfor %}{{ language }} {{ today|date }}
"""
LETTERS = {
    "reference": CampaignLetter(letter_sources(), "en"),
    "probe": CampaignLetter(
        {lang: (_PROBE_SUBJECT, _PROBE_BODY) for lang in ("en", "de", "fr", "it")}, "en"
    ),
}

# --- contact data ----------------------------------------------------------------------------------
_SPECIALS = [
    "\r", "\n", "\r\n", "\n\n", "\t", "\x00", "\x07", "\x0b", "\x0c", "\x1b", "\x1c", "\x1e",
    "\x7f", "\x85", "\xa0", "\u2028", "\u2029", "\u200b", "\u200e", "\u200f", "\u202e", "\u2066",
    "\ufeff", "\ufffd", " ", "  ", "محمد بن سلمان", "שלום", "Ἀθῆναι", "Łódź", "Ærø", "ß",
    "👩🏽‍⚖️", "🇪🇺", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "e\u0301", "*", "**", "_", "__", "`", "```", "~~~", "#", "## ",
    "> ", "- ", "+ ", "1. ", "2) ", "---", "===", "|", "\\", "[", "]", "(", ")", "![x](y)",
    "[x](javascript:alert(1))", "<javascript:alert(1)>", "javascript:alert(1)", "JaVaScRiPt:",
    "<script>alert(1)</script>", "<SCRIPT SRC=//x>", "<img src=x onerror=alert(1)>", "&amp;",
    "&#106;avascript:", "<", ">", "&", '"', "'", "{{ 7*7 }}", "{% raw %}", "{#", "=?utf-8?q?x?=",
    "=?utf-8?b?DQpCY2M6IHg=?=", ":", ";", ",", "@", "<mep@example.org>", "Bcc: x@example.org",
    "\r\nBcc: x@example.org", "%0d%0a", "Dear ,", "MS", "MR", "FEMALE", "MALE",
    "President of the European Parliament", "Minister for Foreign Affairs", "Vice-President",
]  # fmt: skip

_specials = st.sampled_from(_SPECIALS)
_piece = st.one_of(_specials, st.text(max_size=12))
_mixed = st.lists(_piece, max_size=8).map("".join)
_long = st.builds(
    lambda piece, size: (piece * (5000 // len(piece) + 1))[:size],
    st.one_of(_specials, st.text(min_size=1, max_size=20)),
    st.integers(min_value=300, max_value=5000),
)
text_value = st.one_of(st.just(""), st.text(max_size=40), _specials, _mixed, _long)
optional_text = st.one_of(st.none(), text_value)
languages = st.lists(
    st.one_of(st.sampled_from(["en", "de", "fr", "fr-BE", "de_AT", "it", "xx", ""]), text_value),
    max_size=4,
)
overrides = st.dictionaries(
    st.one_of(st.sampled_from(["en", "de", "fr", "fr-be", "FR", ""]), text_value),
    st.one_of(text_value, st.none()),
    max_size=3,
)


@st.composite
def contact_fields(draw: st.DrawFn) -> dict[str, object]:
    """Every field of a Contact (a dict, so that a failing example shows all of them)."""
    return dict(
        kind=draw(st.one_of(st.sampled_from(["mep", "minister", "institution_leader", "other"]),
                            text_value)),
        honorific=draw(st.one_of(st.sampled_from(["MS", "MR", "MRS", "DR", "ms."]), optional_text)),
        given_name=draw(text_value),
        family_name=draw(text_value),
        display_name=draw(text_value),
        gender=draw(st.one_of(st.sampled_from(["FEMALE", "MALE", "female "]), optional_text)),
        country_code=draw(st.one_of(st.sampled_from(["FR", "DE", "BE", "EL"]), optional_text)),
        languages=draw(languages),
        position=draw(optional_text),
        organisation=draw(optional_text),
        political_group_short=draw(optional_text),
        national_party=draw(optional_text),
        email=draw(optional_text),
        salutation_overrides=draw(overrides),
        address_line_overrides=draw(overrides),
    )  # fmt: skip


# --- what a copy must satisfy ---------------------------------------------------------------------
_FIELD_START = re.compile(rb"[!-9;-~]+:")
_WRITTEN_HEADERS = {
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
}  # fmt: skip
# The layout's own elements around the body (templates/emails/letter/layout.html).
_LAYOUT_TAGS = {"html", "head", "meta", "title", "body", "div"}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


def _check_headers(message_bytes: bytes) -> None:
    head, blank, _ = message_bytes.partition(b"\r\n\r\n")
    assert blank, "the message has no blank line after its headers"
    lines = head.split(b"\r\n")
    names = set()
    for number, line in enumerate(lines):
        assert b"\r" not in line, f"bare CR in header line {line!r}"
        assert b"\n" not in line, f"bare LF in header line {line!r}"
        if line[:1] in (b" ", b"\t"):
            assert number > 0, "the first header line is a continuation"
            assert line.strip(b" \t"), f"a continuation line of white space only: {line!r}"
            continue
        field = _FIELD_START.match(line)
        assert field is not None, f"header line {line!r} is neither a field nor a continuation"
        names.add(field.group().rstrip(b":").decode("ascii").lower())
    assert names == _WRITTEN_HEADERS, f"unexpected headers: {names ^ _WRITTEN_HEADERS}"


def _check_html(html: str) -> None:
    assert "<script" not in html.lower()
    parser = _Elements()
    parser.feed(html)
    parser.close()
    assert parser.tags <= ALLOWED_TAGS | _LAYOUT_TAGS, parser.tags - ALLOWED_TAGS - _LAYOUT_TAGS
    for name, value in parser.attributes:
        assert not name.startswith("on"), f"event handler attribute {name}={value!r}"
        # What a browser would see: control characters and white space are ignored in a URL.
        squeezed = re.sub(r"[\x00-\x20\x7f]+", "", value).lower()
        assert not squeezed.startswith(("javascript:", "vbscript:", "data:")), f"{name}={value!r}"
        if name == "href":
            scheme = squeezed.partition(":")[0]
            assert scheme in LINK_SCHEMES, f"href={value!r}"


def _plain(**values: object) -> dict[str, object]:
    return {
        "kind": "mep", "honorific": "MS", "given_name": "Jane", "family_name": "Doe",
        "display_name": "Jane Doe", "gender": "FEMALE", "country_code": "BE", "languages": ["en"],
        "position": "Member of the European Parliament", "organisation": "European Parliament",
        "email": "jane.doe@example.org", "salutation_overrides": {}, "address_line_overrides": {},
        **values,
    }  # fmt: skip


def _check_copy(fields: dict[str, object], letter: str, language: str | None) -> None:
    """Render, check, build and check one copy (see the module doc for what must hold)."""
    contact = Contact(**fields)
    try:
        copy = LETTERS[letter].render(contact, META, language=language)
    except LetterError:
        return
    assert "\r" not in copy.subject
    assert "\n" not in copy.subject
    _check_html(copy.html)
    try:
        message = build_letter(
            from_addr="Coalition <letters@example.org>",
            to_addr="mep@example.org",
            to_name=contact.display_name,
            subject=copy.subject,
            text=copy.text,
            html=copy.html,
            message_id="<x@example.org>",
        )
    except HeaderError:
        assert "\r" in contact.display_name or "\n" in contact.display_name
        return
    _check_headers(message.as_bytes())


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    fields=contact_fields(),
    letter=st.sampled_from(sorted(LETTERS)),
    language=st.sampled_from([None, "en", "de", "fr"]),
)
def test_any_contact_data_renders_safely_or_is_refused_cleanly(
    fields: dict[str, object], letter: str, language: str | None
) -> None:
    _check_copy(fields, letter, language)


# "\r\nBcc: victim@example.org" as RFC 2047 encoded words, in Q and in B encoding.
_ENCODED_CRLF_Q = "=?utf-8?q?Doe=0D=0ABcc:_victim@example.org?="
_ENCODED_CRLF_B = "=?utf-8?b?DQpCY2M6IHZpY3RpbUBleGFtcGxlLm9yZw==?="


@pytest.mark.parametrize(
    ("fields", "letter", "language"),
    [
        pytest.param(_plain(display_name=_ENCODED_CRLF_Q), "reference", "en", id="to-name-q"),
        pytest.param(_plain(display_name=_ENCODED_CRLF_B), "reference", "en", id="to-name-b"),
        pytest.param(_plain(family_name=_ENCODED_CRLF_Q), "reference", "en", id="subject-q"),
        pytest.param(_plain(family_name=_ENCODED_CRLF_B), "probe", "de", id="subject-b"),
        pytest.param(_plain(display_name="\t" * 300), "reference", "fr", id="blank-to-name"),
        pytest.param(_plain(display_name="\x1b" * 300), "reference", "en", id="escape-to-name"),
        pytest.param(_plain(family_name="\x00\x1b" * 200), "reference", "en", id="control-subject"),
        pytest.param(_plain(display_name="Jane" + " " * 200 + "Doe"), "probe", "en", id="gap"),
    ],
)
def test_cases_found_by_the_property_test_stay_fixed(
    fields: dict[str, object], letter: str, language: str
) -> None:
    _check_copy(fields, letter, language)
