"""The audience filter language: a small text syntax for "who do we write to".

    body:AFET,DROI or body:D-CN except group:ESN
    kind:minister and country:FR,DE
    body:AFET/chair,AFET/vice_chair and lang:fr
    tag:ally and not party:"Les Républicains"
    list:"China hearing" or id:12,14

A term is ``key:value[,value...]``; the values of one term are alternatives. Terms combine with
``and`` (also implied between two terms written side by side), ``or``, ``not`` and parentheses;
``except`` takes away everything after it and binds loosest, so ``A or B except C`` means
``(A or B) and not C``. Keys:

| key | matches |
|---|---|
| kind | mep, minister, institution_leader (or leader), other |
| country | ISO code or English name of a member state |
| group | political group acronym (EPP, S&D, Renew, ...), any case |
| party | national party, exactly but in any case |
| body (committee, delegation) | seat in that committee or delegation; ``AFET/chair`` adds the role |
| lang | a language the official reads (ISO 639-1) |
| tag | a tag staff gave the contact |
| active | yes or no |
| id | contact ids |
| list | a saved audience, by name or id |

Parsing happens once; `compile_filter` turns the tree into one SQL condition on Contact (EXISTS
subqueries for seats and tags), so counting 100,000 contacts is a single query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, cast, func, not_, or_, select, true
from sqlalchemy.types import String

from contacts.countries import normalise_country_code
from contacts.models import Contact, ContactKind, ContactTag, Membership, MembershipRole

KEYS = ("kind", "country", "group", "party", "body", "lang", "tag", "active", "id", "list")
_KEY_ALIASES = {
    "committee": "body",
    "delegation": "body",
    "language": "lang",
    "countries": "country",
    "kinds": "kind",
    "groups": "group",
    "bodies": "body",
    "tags": "tag",
}
_KIND_ALIASES = {"leader": ContactKind.INSTITUTION_LEADER.value, "meps": ContactKind.MEP.value}
_ROLE_ALIASES = {"vice-chair": "vice_chair", "vicechair": "vice_chair", "vice": "vice_chair"}


class FilterError(ValueError):
    """A filter that cannot be understood, with the column where the problem starts (1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.column = column
        super().__init__(f"{message} (at column {column})" if column else message)


# --- syntax tree ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    key: str
    values: tuple[str, ...]
    column: int


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Term | Not | And | Or


# --- tokenizer -----------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<term>[A-Za-z_]+:(?:"[^"]*"|[^\s()",]+)(?:,(?:"[^"]*"|[^\s()",]+))*)
  | (?P<openquote>[A-Za-z_]+:(?:[^\s()",]+,)*"[^"]*$)
  | (?P<word>[A-Za-z_]+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)
_VALUE = re.compile(r'"([^"]*)"|([^,]+)')
_OPERATORS = {"and", "or", "not", "except", "minus", "plus"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        column = match.start() + 1
        value = match.group()
        if kind == "space":
            continue
        if kind == "openquote":
            raise FilterError("a quoted value is not closed", column + value.index('"'))
        if kind == "word":
            lowered = value.lower()
            if lowered not in _OPERATORS:
                raise FilterError(
                    f"'{value}' is neither a term (key:value) nor one of and, or, not, except",
                    column,
                )
            out.append(_Token("op", lowered, column))
        elif kind == "other":
            if value == '"':
                raise FilterError("a quoted value is not closed", column)
            raise FilterError(f"unexpected '{value}'", column)
        else:
            out.append(_Token(kind, value, column))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.except_expr()
        leftover = self.peek()
        if leftover is not None:
            raise FilterError(f"unexpected '{leftover.text}'", leftover.column)
        return node

    def except_expr(self) -> Node:
        node = self.or_expr()
        removed: list[Node] = []
        while (
            (tok := self.peek()) is not None
            and tok.kind == "op"
            and tok.text in {"except", "minus"}
        ):
            self.take()
            removed.append(self.or_expr())
        if not removed:
            return node
        return And((node, *(Not(r) for r in removed)))

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in {"or", "plus"}:
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.unary()]
        while (tok := self.peek()) is not None and (
            (tok.kind == "op" and tok.text == "and")
            or tok.kind in {"term", "lparen"}
            or (tok.kind == "op" and tok.text == "not")
        ):
            if tok.kind == "op" and tok.text == "and":
                self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1] if self.tokens else None
            raise FilterError(
                "the filter ends where a term was expected",
                (last.column + len(last.text)) if last else None,
            )
        if tok.kind == "op" and tok.text == "not":
            self.take()
            return Not(self.unary())
        if tok.kind == "lparen":
            self.take()
            node = self.except_expr()
            close = self.peek()
            if close is None or close.kind != "rparen":
                raise FilterError("a '(' is not closed", tok.column)
            self.take()
            return node
        if tok.kind == "term":
            self.take()
            return _term(tok)
        raise FilterError(f"expected a term, found '{tok.text}'", tok.column)


def _term(token: _Token) -> Term:
    key, _, raw = token.text.partition(":")
    key = key.lower()
    key = _KEY_ALIASES.get(key, key)
    if key not in KEYS:
        raise FilterError(f"unknown key '{key}'; the keys are: {', '.join(KEYS)}", token.column)
    values = tuple(
        (m.group(1) if m.group(1) is not None else m.group(2)).strip() for m in _VALUE.finditer(raw)
    )
    values = tuple(v for v in values if v)
    if not values:
        raise FilterError(f"'{key}:' needs a value", token.column)
    return Term(key, values, token.column)


def parse_filter(text: str) -> Node | None:
    """The syntax tree of a filter, or None for an empty filter (everyone)."""
    if not text.strip():
        return None
    return _Parser(text).parse()


# --- compiling to SQL ----------------------------------------------------------------------------
ListResolver = Callable[[str], tuple[str, Sequence[int]]]


def _body_condition(values: tuple[str, ...], column: int) -> ColumnElement[bool]:
    alternatives: list[ColumnElement[bool]] = []
    roles = {r.value for r in MembershipRole}
    for value in values:
        acronym, _, role = value.partition("/")
        condition = Membership.acronym == acronym.strip().upper()
        if role:
            role = _ROLE_ALIASES.get(role.strip().lower(), role.strip().lower())
            if role not in roles:
                raise FilterError(
                    f"unknown role '{role}'; the roles are: {', '.join(sorted(roles))}", column
                )
            condition = and_(condition, Membership.role == role)
        alternatives.append(condition)
    return (
        select(Membership.id)
        .where(Membership.contact_id == Contact.id, or_(*alternatives))
        .exists()
    )


def _term_condition(
    term: Term, resolve_list: ListResolver | None, depth: int
) -> ColumnElement[bool]:
    key, values, column = term.key, term.values, term.column
    if key == "kind":
        kinds = [_KIND_ALIASES.get(v.lower(), v.lower()) for v in values]
        valid = {k.value for k in ContactKind}
        bad = [k for k in kinds if k not in valid]
        if bad:
            raise FilterError(
                f"unknown kind '{bad[0]}'; the kinds are: {', '.join(sorted(valid))}", column
            )
        return Contact.kind.in_(kinds)
    if key == "country":
        codes = []
        for value in values:
            code = normalise_country_code(value)
            if code is None:
                raise FilterError(f"unknown country '{value}'", column)
            codes.append(code)
        # coalesce: a contact with no value must count as "not FR" under `not` and `except`
        # (SQL's NOT of a comparison with NULL would drop it from both sides).
        return func.coalesce(Contact.country_code, "").in_(codes)
    if key == "group":
        return func.lower(func.coalesce(Contact.political_group_short, "")).in_(
            [v.lower() for v in values]
        )
    if key == "party":
        return func.lower(func.coalesce(Contact.national_party, "")).in_(
            [v.lower() for v in values]
        )
    if key == "body":
        return _body_condition(values, column)
    if key == "lang":
        # Languages are a JSON list such as ["fi", "sv"]; matching the quoted code in its text
        # form works the same on SQLite and PostgreSQL.
        text = cast(Contact.languages, String)
        return or_(*(text.like(f'%"{v.lower()}"%') for v in values))
    if key == "tag":
        return (
            select(ContactTag.tag)
            .where(
                ContactTag.contact_id == Contact.id,
                func.lower(ContactTag.tag).in_([v.lower() for v in values]),
            )
            .exists()
        )
    if key == "active":
        flags = {v.lower() for v in values}
        if not flags <= {"yes", "no", "true", "false"}:
            raise FilterError("active: takes yes or no", column)
        wanted = [f in {"yes", "true"} for f in flags]
        return Contact.active.in_(wanted)
    if key == "id":
        try:
            ids = [int(v) for v in values]
        except ValueError as exc:
            raise FilterError("id: takes whole numbers", column) from exc
        return Contact.id.in_(ids)
    if key == "list":
        if resolve_list is None:
            raise FilterError("list: needs the saved audiences", column)
        if depth > 5:
            raise FilterError("saved audiences refer to each other in a loop", column)
        parts: list[ColumnElement[bool]] = []
        for value in values:
            try:
                saved_filter, saved_ids = resolve_list(value)
            except KeyError as exc:
                raise FilterError(f"there is no saved audience '{value}'", column) from exc
            parts.append(
                audience_condition(
                    saved_filter, saved_ids, resolve_list=resolve_list, depth=depth + 1
                )
            )
        return or_(*parts)
    raise FilterError(f"unknown key '{key}'", column)  # pragma: no cover - _term checks keys


def compile_filter(
    node: Node | None, resolve_list: ListResolver | None = None, depth: int = 0
) -> ColumnElement[bool]:
    if node is None:
        return true()
    if isinstance(node, Term):
        return _term_condition(node, resolve_list, depth)
    if isinstance(node, Not):
        return not_(compile_filter(node.operand, resolve_list, depth))
    if isinstance(node, And):
        return and_(*(compile_filter(n, resolve_list, depth) for n in node.operands))
    return or_(*(compile_filter(n, resolve_list, depth) for n in node.operands))


def audience_condition(
    filter_text: str,
    contact_ids: Sequence[int] = (),
    *,
    resolve_list: ListResolver | None = None,
    depth: int = 0,
) -> ColumnElement[bool]:
    """Contacts matching the filter, plus the hand-picked ones. An empty filter with hand-picked
    contacts means just those; an empty filter without any means everyone."""
    node = parse_filter(filter_text)
    ids = list(contact_ids)
    if node is None:
        return Contact.id.in_(ids) if ids else true()
    condition = compile_filter(node, resolve_list, depth)
    return or_(condition, Contact.id.in_(ids)) if ids else condition


def format_term(key: str, values: Sequence[str]) -> str:
    """A term as text, quoting values that need it (used to turn structured specs into filters)."""

    def quote(value: str) -> str:
        return f'"{value}"' if re.search(r'[\s(),"]', value) or not value else value

    return f"{key}:{','.join(quote(v) for v in values)}"


__all__ = [
    "KEYS",
    "FilterError",
    "Node",
    "audience_condition",
    "compile_filter",
    "format_term",
    "parse_filter",
]
