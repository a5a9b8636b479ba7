"""Rendering user-authored letter templates safely, once compiled and many times rendered.

Templates are written by campaign staff, so they run in Jinja's ImmutableSandboxedEnvironment with
StrictUndefined: a misspelt placeholder is an error at save time, never a letter reading "Dear ,".
The context a template sees is documented in CONTEXT_DOC and built by `recipient_context`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from contacts.address import formal_name, honorific, salutation
from contacts.countries import country_name
from contacts.models import Contact

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 200_000

CONTEXT_DOC: dict[str, str] = {
    "recipient": "the official: .display_name .given_name .family_name .honorific .formal_name "
    ".position .organisation .country .country_code .political_group .email",
    "salutation": 'the opening line for this recipient, e.g. "Dear Ms Abadía Jover,"',
    "campaign": "the campaign: .name",
    "today": "the date of sending, ISO format (2026-11-29)",
}


class LetterError(ValueError):
    """A template that cannot be used, with the part and line where the problem is."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        self.part = part
        self.line = line
        where = f"{part}, line {line}" if line else part
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class RecipientView:
    """What a template may read about a recipient: plain values, no ORM object, no methods."""

    display_name: str
    given_name: str
    family_name: str
    honorific: str
    formal_name: str
    position: str
    organisation: str
    country: str
    country_code: str
    political_group: str
    email: str


def recipient_view(contact: Contact, email: str | None = None) -> RecipientView:
    return RecipientView(
        display_name=contact.display_name,
        given_name=contact.given_name,
        family_name=contact.family_name,
        honorific=honorific(contact),
        formal_name=formal_name(contact),
        position=contact.position or "",
        organisation=contact.organisation or "",
        country=country_name(contact.country_code),
        country_code=contact.country_code or "",
        political_group=contact.political_group_short or "",
        email=email or contact.email or "",
    )


@dataclass(frozen=True)
class CampaignView:
    name: str


def recipient_context(
    contact: Contact, campaign_name: str, *, email: str | None = None, today: date | None = None
) -> dict[str, Any]:
    return {
        "recipient": recipient_view(contact, email),
        "salutation": salutation(contact),
        "campaign": CampaignView(name=campaign_name),
        "today": (today or date.today()).isoformat(),  # noqa: DTZ011 - the sender's calendar date
    }


_env = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)


def _line_in_template(tb: TracebackType | None, filename: str) -> int | None:
    """The template line of the innermost traceback frame that belongs to the template."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class CompiledPart:
    """One compiled template (the subject or the body) of a campaign."""

    def __init__(self, part: str, source: str) -> None:
        self.part = part
        if len(source) > MAX_TEMPLATE_CHARS:
            raise LetterError(part, f"is longer than {MAX_TEMPLATE_CHARS} characters")
        if not source.strip():
            raise LetterError(part, "is empty")
        self._filename = f"<{part}>"
        try:
            tree = _env.parse(source, name=part, filename=self._filename)
        except TemplateSyntaxError as exc:
            raise LetterError(part, exc.message or "syntax error", exc.lineno) from exc
        self._check_names(tree)
        self.template = _env.from_string(tree)
        self.template.filename = self._filename

    def _check_names(self, tree: nodes.Template) -> None:
        unknown = meta.find_undeclared_variables(tree) - set(CONTEXT_DOC)
        if not unknown:
            return
        first = min(
            (n for n in tree.find_all(nodes.Name) if n.name in unknown), key=lambda n: n.lineno
        )
        known = ", ".join(sorted(CONTEXT_DOC))
        raise LetterError(
            self.part, f"'{first.name}' is not defined; the placeholders are: {known}", first.lineno
        )

    def render(self, context: dict[str, Any]) -> str:
        try:
            text = self.template.render(context)
        except TemplateError as exc:
            line = _line_in_template(sys.exc_info()[2], self._filename)
            raise LetterError(self.part, exc.message or str(exc), line) from exc
        except (ArithmeticError, TypeError, ValueError) as exc:
            line = _line_in_template(sys.exc_info()[2], self._filename)
            raise LetterError(self.part, str(exc), line) from exc
        if len(text) > MAX_OUTPUT_CHARS:
            raise LetterError(self.part, f"renders to more than {MAX_OUTPUT_CHARS} characters")
        return text


_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedLetter:
    subject: str
    body: str


class CompiledLetter:
    """A campaign's subject and body, compiled once, rendered per recipient."""

    def __init__(self, subject: str, body: str) -> None:
        errors: list[LetterError] = []
        parts: dict[str, CompiledPart] = {}
        for name, source in (("subject", subject), ("body", body)):
            try:
                parts[name] = CompiledPart(name, source)
            except LetterError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        self.subject = parts["subject"]
        self.body = parts["body"]

    def render(self, context: dict[str, Any]) -> RenderedLetter:
        # A subject is one header line: collapse every run of white space, CR and LF included.
        subject = _WS.sub(" ", self.subject.render(context)).strip()
        if not subject:
            raise LetterError("subject", "renders to an empty line")
        return RenderedLetter(subject=subject, body=self.body.render(context))
