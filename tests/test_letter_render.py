"""Letter templates render per recipient in a sandbox; unsafe or broken templates are refused."""

from __future__ import annotations

import pytest

from contacts.models import Contact
from outreach.letters.render import CompiledLetter, LetterError, recipient_context


def _mep(**overrides: object) -> Contact:
    values: dict[str, object] = {
        "kind": "mep",
        "honorific": "MS",
        "given_name": "Maravillas",
        "family_name": "Abadía Jover",
        "display_name": "Maravillas Abadía Jover",
        "country_code": "ES",
        "email": "m@example.org",
        "political_group_short": "EPP",
    }
    values.update(overrides)
    return Contact(**values)


def test_a_letter_greets_the_recipient_by_title_and_family_name() -> None:
    letter = CompiledLetter(
        "To {{ recipient.formal_name }}", "{{ salutation }}\nFor {{ recipient.country }}."
    )
    rendered = letter.render(recipient_context(_mep(), "Summit"))
    assert rendered.subject == "To Ms Abadía Jover"
    assert rendered.body == "Dear Ms Abadía Jover,\nFor Spain."


def test_a_recipient_without_family_name_is_greeted_by_position_never_dear_comma() -> None:
    leader = _mep(
        kind="institution_leader",
        honorific=None,
        family_name="",
        given_name="",
        display_name="António Costa",
        position="President of the European Council",
    )
    rendered = CompiledLetter("Hi", "{{ salutation }}").render(recipient_context(leader, "Summit"))
    assert rendered.body == "Dear President of the European Council,"


def test_line_breaks_rendered_into_the_subject_are_folded_into_one_line() -> None:
    """A subject is a header: CR/LF from a placeholder can never start a new header."""
    contact = _mep(family_name="Jover\r\nBcc: victim@example.org")
    rendered = CompiledLetter("To {{ recipient.family_name }}", "x").render(
        recipient_context(contact, "S")
    )
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


@pytest.mark.parametrize(
    "payload",
    [
        "{{ recipient.__class__.__mro__ }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ recipient|attr('__class__') }}",
        "{{ '{0.__class__}'.format(recipient) }}",
    ],
)
def test_sandbox_escapes_fail_as_letter_errors(payload: str) -> None:
    """Attribute access to Python internals is refused by the sandbox, reported as a LetterError."""
    letter = CompiledLetter("Hi", payload)
    with pytest.raises(LetterError, match="body"):
        letter.render(recipient_context(_mep(), "S"))


def test_output_larger_than_the_limit_is_refused() -> None:
    letter = CompiledLetter("Hi", "{% for i in range(100000) %}xxxxxxxxxx{% endfor %}")
    with pytest.raises(LetterError, match="renders to more than"):
        letter.render(recipient_context(_mep(), "S"))
