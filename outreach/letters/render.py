"""Rendering user-authored letter templates safely: compiled once, rendered per recipient.

Templates are written by campaign staff, so they run in Jinja's ImmutableSandboxedEnvironment with
StrictUndefined and no globals: a misspelt placeholder is an error at save time, never a letter
reading "Dear ,". On top of the sandbox, `check_template` refuses at save time what no letter
needs and every template-injection payload uses (attributes starting with "_", the `attr` filter,
`.format`, Jinja's globals such as `cycler`, large repetition), each with a message naming the
line. Every render has an output-size limit and a time limit.

The context a template sees is documented in CONTEXT_DOC. A letter has one subject and body per
language; `choose_language` picks the variant for a recipient (their first language the campaign
has, else the campaign's default), and the body, rendered to Markdown, is formatted to HTML and
text by outreach.letters.formatting.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from functools import lru_cache
from types import TracebackType
from typing import Any, NamedTuple

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes, pass_context
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from contacts.address import address_line, formal_name, honorific, salutation
from contacts.countries import country_name
from contacts.models import Contact
from outreach.letters.formatting import (
    RESERVED_CHARACTERS,
    RenderedBody,
    escape_markdown,
    format_body,
    stand_in_for,
)

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 200_000
MAX_REPEAT = 100
RENDER_SECONDS = 2.0

CONTEXT_DOC: dict[str, str] = {
    "recipient": "the official: .display_name .given_name .family_name .honorific .formal_name "
    ".position .organisation .country .country_code .political_group .national_party .email",
    "salutation": 'the opening line in the letter\'s language, e.g. "Dear Ms Abadía Jover,"',
    "address_line": "the recipient's name and office in the letter's language",
    "campaign": "the campaign: .name",
    "sender": "who sends the letter: .name .email",
    "signatories": "the signatory organisations, each with .name and .url",
    "cosigners": "confirmed supporters: .count, and .names of those who agreed to be named",
    "today": "the date of sending; {{ today|date }} writes it in the letter's language",
    "language": "the language of this copy (en, fr, de, ...)",
    "addressees": "a joint letter's addressees (each like recipient); empty for a mail merge",
    "addressed_to": 'their names as a phrase, e.g. "Ursula von der Leyen and António Costa"',
    "copied": "true in a copy sent to someone the joint letter is not addressed to",
    "supporter": "in a supporter's own letter (write to your MEPs): .name .email .country "
    ".country_code .organisation, and .message, their own words (plain text, one paragraph; "
    ".paragraphs gives them paragraph by paragraph); empty in staff letters",
}
FILTERS_DOC = {
    "date": "{{ today|date }} or {{ today|date('short') }}: a date in the letter's language",
    "number": "{{ cosigners.count|number }}: a number with the language's separators",
}
_JINJA_GLOBALS = {"range", "dict", "lipsum", "cycler", "joiner", "namespace"}
_FORBIDDEN_METHODS = {"format", "format_map", "mro", "translate", "encode", "decode"}


class LetterError(ValueError):
    """A template that cannot be used, with the part and line where the problem is."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        self.part = part
        self.line = line
        self.message = message
        where = f"{part}, line {line}" if line else part
        super().__init__(f"{where}: {message}")


# --- what a template can read --------------------------------------------------------------------
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
    national_party: str
    email: str


def recipient_view(contact: Contact, email: str | None = None) -> RecipientView:
    return RecipientView(
        display_name=contact.display_name,
        given_name=contact.given_name or "",
        family_name=contact.family_name or "",
        honorific=honorific(contact),
        formal_name=formal_name(contact),
        position=contact.position or "",
        organisation=contact.organisation or "",
        country=country_name(contact.country_code),
        country_code=contact.country_code or "",
        political_group=contact.political_group_short or "",
        national_party=contact.national_party or "",
        email=email or contact.email or "",
    )


@dataclass(frozen=True)
class CampaignView:
    name: str


@dataclass(frozen=True)
class SenderView:
    name: str
    email: str


@dataclass(frozen=True)
class SignatoryView:
    name: str
    url: str = ""


@dataclass(frozen=True)
class CosignersView:
    """Confirmed co-signatures when the copy is made (outreach.supporters.cosigners): their
    count and the names of those who agreed to be named, as far as the campaign shows them;
    0 and empty otherwise, and templates that use them still render."""

    count: int = 0
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class SupporterView:
    """The supporter who sends their own copy (write to your MEPs). `message` is the part of the
    letter they wrote or edited: plain text, escaped like every value, so it cannot add
    Markdown, links or HTML; one paragraph when printed whole, or `paragraphs` one by one."""

    name: str = ""
    email: str = ""
    country: str = ""
    country_code: str = ""
    organisation: str = ""
    message: str = ""
    paragraphs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Joint:
    """How a copy relates to a joint letter: the addressees, and whether it is the joint message
    itself (joint salutation) or an individual copy sent to someone else (`copied`)."""

    addressees: tuple[Contact, ...] = ()
    message: bool = False

    @property
    def copied(self) -> bool:
        return bool(self.addressees) and not self.message


@dataclass(frozen=True)
class LetterMeta:
    """Everything about a copy that does not come from the recipient."""

    campaign_name: str
    sender: SenderView = SenderView("", "")
    signatories: tuple[SignatoryView, ...] = ()
    cosigners: CosignersView = CosignersView()
    today: date | None = None
    supporter: SupporterView = SupporterView()


def signatory_views(rows: Sequence[Mapping[str, str]] | None) -> tuple[SignatoryView, ...]:
    return tuple(
        SignatoryView(name=str(r.get("name", "")).strip(), url=str(r.get("url", "") or "").strip())
        for r in rows or ()
        if str(r.get("name", "")).strip()
    )


def recipient_context(
    contact: Contact,
    campaign_name: str | LetterMeta,
    *,
    email: str | None = None,
    today: date | None = None,
    language: str = "en",
    joint: Joint = Joint(),
) -> dict[str, Any]:
    """The context of one copy. `campaign_name` may be a full LetterMeta."""
    meta_ = campaign_name if isinstance(campaign_name, LetterMeta) else LetterMeta(campaign_name)
    addressees = [recipient_view(c) for c in joint.addressees]
    greeting = (
        " ".join(salutation(c, language) for c in joint.addressees)
        if joint.message and joint.addressees
        else salutation(contact, language)
    )
    return {
        "addressees": addressees,
        "addressed_to": format_list([a.display_name for a in addressees], locale=_locale(language))
        if addressees
        else "",
        "copied": joint.copied,
        "recipient": recipient_view(contact, email),
        "salutation": greeting,
        "address_line": address_line(contact, language),
        "campaign": CampaignView(name=meta_.campaign_name),
        "sender": meta_.sender,
        "signatories": list(meta_.signatories),
        "cosigners": meta_.cosigners,
        "supporter": meta_.supporter,
        "today": today or meta_.today or date.today(),  # noqa: DTZ011 - the sender's calendar date
        "language": language,
    }


def sample_contact() -> Contact:
    """A complete fictitious recipient, to try a template when it is saved."""
    return Contact(
        kind="mep", honorific="MS", given_name="Ana", family_name="Example", display_name="Ana Example",
        gender="FEMALE", country_code="BE", languages=["fr", "nl", "de"], position="Member of the European Parliament",
        organisation="European Parliament", political_group_short="EPP", national_party="Example party",
        email="ana.example@europarl.europa.eu", salutation_overrides={}, address_line_overrides={},
    )  # fmt: skip


def sample_supporter() -> SupporterView:
    """A complete fictitious supporter, for the check and preview of a mail-to-target letter."""
    return SupporterView(
        name="Alex Example", email="alex@example.org", country="Belgium", country_code="BE",
        organisation="", message="I care about this.", paragraphs=("I care about this.",),
    )  # fmt: skip


# --- the environment ------------------------------------------------------------------------------
# Letters go to European officials: English dates in the European order ("29 November 2026").
_REGIONAL_DEFAULTS = {"en": "en_GB"}


@lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    try:
        code = language.replace("-", "_")
        return Locale.parse(_REGIONAL_DEFAULTS.get(code.lower(), code))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


@pass_context
def _date_filter(context: Context, value: date, format: str = "long") -> str:
    if format not in {"short", "medium", "long", "full"}:
        raise ValueError("date takes 'short', 'medium', 'long' or 'full'")
    return _format_date(value, format, context.get("language") or "en")


@lru_cache(maxsize=256)
def _format_date(value: date, format: str, language: str) -> str:
    # Every copy of a drive prints the same date or two.
    return format_date(value, format=format, locale=_locale(language))


@pass_context
def _number_filter(context: Context, value: float) -> str:
    return format_decimal(value, locale=_locale(context.get("language") or "en"))


_VIEW_FIELDS: dict[type, frozenset[str]] = {
    view: frozenset(f.name for f in fields(view))
    for view in (RecipientView, CampaignView, SenderView, SignatoryView, CosignersView)
}
_VIEW_FIELDS[LoopContext] = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
)


class _Deadline(threading.local):
    at: float = 0.0


_deadline = _Deadline()


def _check_deadline() -> None:
    if _deadline.at and time.monotonic() > _deadline.at:
        raise TimeoutError(f"the letter took longer than {RENDER_SECONDS:g} s to render")


class LetterEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with every call checked against the render's deadline (a loop that calls
    nothing is bounded by the output limit and the sandbox's range limit)."""

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The documented fields of the context's own frozen views are read directly (a letter
        # reads a dozen or two a copy); everything else goes through the sandbox's checks. A loop
        # that reads only fields meets the deadline where it prints (`_finalize_body`).
        fields = _VIEW_FIELDS.get(type(obj))
        if fields is not None and attribute in fields:
            return getattr(obj, attribute)
        _check_deadline()
        return super().getattr(obj, attribute)


def _environment(finalize: Any = None) -> LetterEnvironment:
    env = LetterEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=finalize
    )
    env.globals.clear()
    env.filters["date"] = _date_filter
    env.filters["number"] = _number_filter
    return env


# The subject is plain text. The body is Markdown, and every placeholder's value is escaped for
# Markdown (the autoescape of this format): a name with "*" or "[x](javascript:...)" in it stays
# literal text and cannot make a link, emphasis or a new paragraph. In a copy's body, a stand-in
# is printed and the value kept aside, so that the copy is formatted by the plan shared by every
# copy (see outreach.letters.formatting).
class _Values(threading.local):
    """The values printed by the body template being rendered in this thread."""

    current: list[str] | None = None


_values = _Values()


def _finalize_body(value: Any) -> str:
    if _deadline.at and time.monotonic() > _deadline.at:
        _check_deadline()  # raises
    values = _values.current
    return escape_markdown(value) if values is None else stand_in_for(value, values)


_env = _environment()
_body_env = _environment(finalize=_finalize_body)


# --- checking a template when it is saved ----------------------------------------------------------
def _refuse(part: str, node: nodes.Node, message: str) -> LetterError:
    return LetterError(part, message, getattr(node, "lineno", None))


MAX_LOOP_NESTING = 2


def _loop_depth(node: nodes.Node, depth: int = 0) -> tuple[int, nodes.Node | None]:
    deepest, where = depth, None
    for child in node.iter_child_nodes():
        inner = depth + 1 if isinstance(child, nodes.For) else depth
        found, found_where = _loop_depth(child, inner)
        if found > deepest:
            deepest, where = found, (found_where or child)
    return deepest, where


_CAPTURING: dict[type, str] = {
    nodes.Macro: "macros",
    nodes.CallBlock: "call blocks",
    nodes.AssignBlock: "{% set %} blocks",
    nodes.Block: "{% block %} sections",
    nodes.FilterBlock: "{% filter %} blocks",
}


def check_template(tree: nodes.Template, part: str) -> None:
    """Refuse what no letter needs and template-injection payloads use, naming the line."""
    for capturing in tree.find_all(
        (nodes.Macro, nodes.CallBlock, nodes.AssignBlock, nodes.Block, nodes.FilterBlock)
    ):
        # Each captures printed text (values already stood in for) to print it again.
        name = _CAPTURING[type(capturing)]
        raise _refuse(part, capturing, f"{name} are not supported in letters; write the text out")
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise _refuse(part, loop, "recursive loops are not supported in letters")
    depth, where = _loop_depth(tree)
    if depth > MAX_LOOP_NESTING and where is not None:
        # Loops that call nothing escape the time limit; a letter needs no deeper nesting.
        raise _refuse(
            part, where, f"loops nested more than {MAX_LOOP_NESTING} deep are not allowed"
        )
    for node in tree.find_all(
        (nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name, nodes.BinExpr)
    ):
        if isinstance(node, nodes.Getattr):
            if node.attr.startswith("_"):
                raise _refuse(
                    part,
                    node,
                    f"'.{node.attr}' is not allowed: letters read only the documented fields",
                )
            if node.attr in _FORBIDDEN_METHODS:
                raise _refuse(
                    part,
                    node,
                    f"'.{node.attr}' is not allowed in letters; join text with ~ instead",
                )
        elif isinstance(node, nodes.Getitem):
            key = node.arg
            if (
                isinstance(key, nodes.Const)
                and isinstance(key.value, str)
                and key.value.startswith("_")
            ):
                raise _refuse(
                    part,
                    node,
                    f"'[{key.value!r}]' is not allowed: letters read only the documented fields",
                )
        elif isinstance(node, nodes.Filter):
            if node.name == "attr":
                raise _refuse(part, node, "the 'attr' filter is not allowed in letters")
            if node.name not in _env.filters:
                raise _refuse(part, node, f"there is no filter '{node.name}'")
        elif isinstance(node, nodes.Name):
            if node.ctx == "load" and node.name in _JINJA_GLOBALS:
                raise _refuse(part, node, f"'{node.name}' is not available in letters")
        elif isinstance(node, nodes.Pow):
            raise _refuse(part, node, "'**' is not allowed in letters")
        elif isinstance(node, nodes.Mul):
            for side in (node.left, node.right):
                if (
                    isinstance(side, nodes.Const)
                    and isinstance(side.value, int)
                    and side.value > MAX_REPEAT
                ):
                    raise _refuse(
                        part,
                        node,
                        f"repeating something more than {MAX_REPEAT} times is not allowed",
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
    """One compiled template (the subject or the body of one language) of a campaign."""

    def __init__(self, part: str, source: str, env: LetterEnvironment = _env) -> None:
        self.part = part
        if len(source) > MAX_TEMPLATE_CHARS:
            raise LetterError(part, f"is longer than {MAX_TEMPLATE_CHARS} characters")
        if not source.strip():
            raise LetterError(part, "is empty")
        self._filename = f"<{part}>"
        try:
            tree = env.parse(source, name=part, filename=self._filename)
        except TemplateSyntaxError as exc:
            raise LetterError(part, exc.message or "syntax error", exc.lineno) from exc
        check_template(tree, part)
        self._check_names(tree)
        self.tree = tree
        self.template = env.from_string(tree)
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
        _deadline.at = time.monotonic() + RENDER_SECONDS
        try:
            text = self.template.render(context)
        except TemplateError as exc:
            line = _line_in_template(sys.exc_info()[2], self._filename)
            raise LetterError(self.part, _friendly(exc.message or str(exc)), line) from exc
        except (ArithmeticError, TypeError, ValueError, TimeoutError, OverflowError) as exc:
            line = _line_in_template(sys.exc_info()[2], self._filename)
            raise LetterError(self.part, str(exc), line) from exc
        finally:
            _deadline.at = 0.0
        if len(text) > MAX_OUTPUT_CHARS:
            raise LetterError(self.part, f"renders to more than {MAX_OUTPUT_CHARS} characters")
        return text


_WS = re.compile(r"\s+")
_NO_ATTRIBUTE = re.compile(r"'[\w.]*\.(\w+)View object' has no attribute '(\w+)'")
_VIEW_NAMES = {"Recipient": "recipient", "Campaign": "campaign", "Sender": "sender",
               "Signatory": "a signatory", "Cosigners": "cosigners",
               "Supporter": "supporter"}  # fmt: skip


def _friendly(message: str) -> str:
    """ "'...RecipientView object' has no attribute 'x'" → "recipient has no field 'x' (...)"."""
    match = _NO_ATTRIBUTE.search(message)
    if match is None:
        return message
    view, attribute = match.groups()
    name = _VIEW_NAMES.get(view, view.lower())
    fields = CONTEXT_DOC.get(name.replace("a ", "") + ("s" if view == "Signatory" else ""), "")
    return f"{name} has no field '{attribute}'" + (f"; it has {fields}" if fields else "")


_NO_RESERVED = str.maketrans(dict.fromkeys(RESERVED_CHARACTERS, "\ufffd"))


class RenderedLetter(NamedTuple):
    subject: str
    body: RenderedBody  # Markdown with a stand-in for each value, and the values


class CompiledLetter:
    """One language's subject and body, compiled once, rendered per recipient."""

    def __init__(self, subject: str, body: str, language: str | None = None) -> None:
        suffix = f" ({language})" if language else ""
        self.subject = CompiledPart(f"subject{suffix}", subject)
        # The characters that mark values in a rendered body cannot come from the template.
        body = body.translate(_NO_RESERVED)
        self.body = CompiledPart(f"body{suffix}", body, _body_env)

    def render(self, context: dict[str, Any]) -> RenderedLetter:
        # A subject is one header line: collapse every run of white space, CR and LF included.
        subject = _WS.sub(" ", self.subject.render(context)).strip()
        if not subject:
            raise LetterError(self.subject.part, "renders to an empty line")
        values: list[str] = []
        _values.current = values
        try:
            skeleton = self.body.render(context)
        finally:
            _values.current = None
        body = RenderedBody(skeleton, tuple(values))
        if body.size() > MAX_OUTPUT_CHARS:
            raise LetterError(self.body.part, f"renders to more than {MAX_OUTPUT_CHARS} characters")
        return RenderedLetter(subject=subject, body=body)


# --- languages ---------------------------------------------------------------------------------------
def choose_language(
    recipient_languages: Iterable[str], available: Iterable[str], default: str
) -> tuple[str, bool]:
    """(the variant's language, whether it is a fallback the recipient did not ask for)."""
    # Codes compare without case ("pt-BR" is "pt-br"); a regional recipient language falls back
    # to the plain language ("pt-BR" reader, "pt" letter).
    offered = {code.lower().replace("_", "-"): code for code in available}
    wanted = [
        lang.strip().lower().replace("_", "-")
        for lang in recipient_languages
        if lang and lang.strip()
    ]
    for lang in wanted:
        if lang in offered:
            return offered[lang], False
        base = lang.split("-")[0]
        if base in offered:
            return offered[base], False
    return default, bool(wanted)


class RenderedCopy(NamedTuple):
    """One recipient's copy: its language, subject, body and both formatted parts."""

    language: str
    fallback: bool  # the recipient reads none of the campaign's languages
    subject: str
    body: RenderedBody
    html: str
    text: str

    @property
    def markdown(self) -> str:
        """The rendered body as Markdown."""
        return self.body.markdown()


@dataclass
class CampaignLetter:
    """All the language variants of a campaign's letter, compiled once."""

    sources: Mapping[str, tuple[str, str]]
    default_language: str
    variants: dict[str, CompiledLetter] = field(init=False)

    def __post_init__(self) -> None:
        if self.default_language not in self.sources:
            raise LetterError(
                "letter", f"there is no text in the default language {self.default_language!r}"
            )
        self.variants = {
            lang: CompiledLetter(subject, body, None if lang == self.default_language else lang)
            for lang, (subject, body) in self.sources.items()
        }

    def check_with_sample(self, meta_: LetterMeta) -> None:
        """Render every variant for a complete fictitious recipient: catches runtime errors
        (a wrong filter argument, a field that does not exist) when the letter is saved."""
        for lang in self.variants:
            self.render(sample_contact(), meta_, language=lang)

    def render(
        self,
        contact: Contact,
        meta_: LetterMeta,
        *,
        email: str | None = None,
        language: str | None = None,
        joint: Joint = Joint(),
    ) -> RenderedCopy:
        if joint.message:
            # One message to several people: written in the campaign's own language.
            language, fallback = self.default_language, False
        elif language is None:
            language, fallback = choose_language(
                contact.languages or (), self.variants, self.default_language
            )
        else:
            fallback = False
        rendered = self.variants[language].render(
            recipient_context(contact, meta_, email=email, language=language, joint=joint)
        )
        formatted = format_body(rendered.body, subject=rendered.subject, language=language)
        return RenderedCopy(
            language=language,
            fallback=fallback,
            subject=rendered.subject,
            body=rendered.body,
            html=formatted.html,
            text=formatted.text,
        )
