"""Letter templates: sandboxed, checked when saved, rendered per recipient in their language."""

from __future__ import annotations

import re
from datetime import date

import pytest

from contacts.models import Contact
from outreach.letters.render import (
    CampaignLetter,
    CompiledLetter,
    LetterError,
    LetterMeta,
    SignatoryView,
    choose_language,
    recipient_context,
    sample_contact,
)

META = LetterMeta(
    campaign_name="Summit",
    signatories=(SignatoryView("Rights Watch Europe", "https://rights.example.org"),),
    today=date(2026, 11, 29),
)


def _mep(**overrides: object) -> Contact:
    values: dict[str, object] = {
        "kind": "mep", "honorific": "MS", "given_name": "Maravillas", "family_name": "Abadía Jover",
        "display_name": "Maravillas Abadía Jover", "country_code": "ES", "email": "m@example.org",
        "political_group_short": "EPP", "languages": ["es"], "gender": "FEMALE",
        "salutation_overrides": {}, "address_line_overrides": {},
    }  # fmt: skip
    values.update(overrides)
    return Contact(**values)


def _letter(body: str, subject: str = "Hi", **variants: tuple[str, str]) -> CampaignLetter:
    return CampaignLetter({"en": (subject, body), **variants}, "en")


def test_a_letter_greets_the_recipient_by_title_and_family_name() -> None:
    copy = _letter(
        "{{ salutation }}\n\nFor {{ recipient.country }}.", "To {{ recipient.formal_name }}"
    ).render(_mep(languages=["en"]), META)
    assert copy.subject == "To Ms Abadía Jover"
    assert copy.text.startswith("Dear Ms Abadía Jover,\n\nFor Spain.")
    assert "Dear Ms Abadía Jover," in copy.html


def test_the_variant_follows_the_recipients_languages_with_a_fallback_to_the_default() -> None:
    letter = _letter(
        "{{ salutation }}\n\nEnglish.",
        de=("Hallo", "{{ salutation }}\n\nDeutsch."),
        fr=("Bonjour", "{{ salutation }}\n\nFrançais."),
    )
    belgian = letter.render(_mep(languages=["nl", "fr", "de"], family_name="Peeters"), META)
    assert (belgian.language, belgian.fallback) == ("fr", False)
    assert belgian.text.startswith("Madame la Députée,\n\nFrançais.")
    spaniard = letter.render(_mep(), META)
    assert (spaniard.language, spaniard.fallback) == ("en", True)
    assert choose_language(["pt-BR"], ["pt", "en"], "en") == ("pt", False)
    assert choose_language([], ["fr", "en"], "en") == ("en", False)


def test_dates_and_numbers_are_written_in_the_letters_language() -> None:
    letter = _letter(
        "{{ today|date }}, {{ 1234567|number }}",
        de=("Hallo", "{{ today|date }}, {{ 1234567|number }}"),
    )
    assert letter.render(_mep(languages=["en"]), META).text.startswith(
        "29 November 2026, 1,234,567"
    )
    assert letter.render(_mep(languages=["de"]), META).text.startswith(
        "29. November 2026, 1.234.567"
    )


def test_signatories_are_available_to_the_template() -> None:
    body = "Yours,\n\n{% for s in signatories %}[{{ s.name }}]({{ s.url }})\n{% endfor %}"
    copy = _letter(body).render(_mep(languages=["en"]), META)
    assert 'href="https://rights.example.org"' in copy.html
    assert "Rights Watch Europe [1]" in copy.text


def test_recipient_data_cannot_inject_markdown_links_or_html() -> None:
    """A name written as Markdown or HTML stays literal text: no link, no emphasis, no tag."""
    hostile = _mep(
        languages=["en"],
        family_name="[click](javascript:alert(1)) **x** <script>alert(1)</script>",
    )
    copy = _letter("{{ salutation }}").render(hostile, META)
    assert "<script>" not in copy.html
    assert "javascript:" not in copy.html.replace("[click](javascript:alert(1))", "")
    assert "<a " not in copy.html
    assert "<strong>" not in copy.html
    assert "[click](javascript:alert(1)) **x** <script>alert(1)</script>" in copy.text


def test_line_breaks_rendered_into_the_subject_are_folded_into_one_line() -> None:
    """A subject is a header: CR/LF from a placeholder can never start a new header."""
    contact = _mep(family_name="Jover\r\nBcc: victim@example.org", languages=["en"])
    copy = _letter("x", "To {{ recipient.family_name }}").render(contact, META)
    assert "\n" not in copy.subject
    assert "\r" not in copy.subject


# Template-injection payloads of the kind published against Jinja sandboxes: every one is
# refused when the letter is saved, with a message that names the line.
PAYLOADS = [
    ("{{ recipient.__class__.__mro__ }}", "'.__mro__' is not allowed"),
    ("{{ ''.__class__.__base__.__subclasses__() }}", "'.__subclasses__' is not allowed"),
    ("{{ recipient|attr('__class__') }}", "the 'attr' filter is not allowed"),
    ("{{ '{0.__class__}'.format(recipient) }}", "'.format' is not allowed"),
    ("{{ '%s'.format_map(recipient) }}", "'.format_map' is not allowed"),
    ("{{ cycler.__init__.__globals__.os }}", "'.__globals__' is not allowed"),
    ("{{ cycler }}", "'cycler' is not available in letters"),
    ("{{ joiner }}{{ namespace }}", "'joiner' is not available in letters"),
    ("{{ lipsum.__globals__ }}", "'.__globals__' is not allowed"),
    ("{{ self._TemplateReference__context }}", "'._TemplateReference__context' is not allowed"),
    ("{{ recipient['__class__'] }}", "is not allowed"),
    ("{{ 'x' * 1000000 }}", "repeating something more than 100 times is not allowed"),
    ("{{ 9 ** 9 ** 9 }}", "'**' is not allowed"),
    ("{% for i in range(10**6) %}x{% endfor %}", "is not"),
    ("{{ config }}", "'config' is not defined"),
    ("{{ request.environ }}", "'request' is not defined"),
    ("{{ recipient|unknownfilter }}", "there is no filter 'unknownfilter'"),
]


@pytest.mark.parametrize(("payload", "message"), PAYLOADS)
def test_template_injection_payloads_are_refused_when_saved(payload: str, message: str) -> None:
    with pytest.raises(LetterError) as refused:
        CompiledLetter("Hi", "Dear friend,\n\n" + payload)
    assert refused.value.line == 3
    assert message in str(refused.value)


def test_output_larger_than_the_limit_is_refused() -> None:
    letter = CompiledLetter("Hi", "{% for a in signatories %}{{ 'x' * 100 }}{% endfor %}")
    many = LetterMeta("S", signatories=tuple(SignatoryView(str(i)) for i in range(3000)))
    with pytest.raises(LetterError, match="renders to more than"):
        letter.render(recipient_context(_mep(), many))


def test_a_render_that_runs_too_long_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    import outreach.letters.render as render

    monkeypatch.setattr(render, "RENDER_SECONDS", 0.0)
    letter = CompiledLetter("Hi", "{% for s in signatories %}{{ s.name }}{% endfor %}")
    with pytest.raises(LetterError, match="took longer than"):
        letter.render(recipient_context(_mep(), META))


def test_an_unknown_field_is_named_with_the_fields_there_are() -> None:
    letter = _letter("{{ salutation }}\n\n{{ recipient.nickname }}")
    with pytest.raises(LetterError, match=r"body, line 3: recipient has no field 'nickname'"):
        letter.check_with_sample(META)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{% macro m() %}{{ recipient.given_name }}{% endmacro %}{{ m() }}", "macros are not"),
        ("{% set x %}Hi {{ recipient.given_name }}{% endset %}{{ x }}", "{% set %} blocks"),
        ("{% block b %}{{ salutation }}{% endblock %}", "{% block %} sections"),
        ("{% filter date %}{{ today }}{% endfilter %}", "{% filter %} blocks"),
        ("{% for s in signatories recursive %}{{ loop(s) }}{% endfor %}", "recursive loops"),
    ],
)
def test_blocks_that_capture_printed_text_are_refused_naming_the_line(
    body: str, message: str
) -> None:
    """A letter prints each value once, where it stands; text captured and printed again would
    lose its values (and a letter needs none of these)."""
    with pytest.raises(LetterError, match=re.escape(message)) as refused:
        CompiledLetter("Subject", "Dear all,\n\n" + body)
    assert refused.value.line == 3


def test_a_one_line_set_is_allowed_and_prints_its_value() -> None:
    letter = CompiledLetter("S", "{% set n = recipient.family_name %}Dear {{ n }},")
    body = letter.render(recipient_context(sample_contact(), "Drive")).body
    assert body.markdown() == "Dear Example,"


def test_loops_nested_three_deep_are_refused() -> None:
    """Loops that call nothing escape the time limit, so nesting is capped at two."""
    body = "{% for a in signatories %}{% for b in signatories %}{% for c in signatories %}x"
    body += "{% endfor %}{% endfor %}{% endfor %}"
    with pytest.raises(LetterError, match="nested more than 2 deep"):
        CompiledLetter("Hi", body)


def test_regional_language_codes_match_without_case() -> None:
    assert choose_language(["pt-br"], ["en", "pt-BR"], "en") == ("pt-BR", False)
    assert choose_language(["PT_BR"], ["en", "pt"], "en") == ("pt", False)
