"""Turning a rendered letter body (Markdown) into the HTML and plain-text parts of one e-mail.

A campaign's body template renders, per recipient, to CommonMark text. This module parses that text
and writes both parts of a multipart/alternative message from the same token stream:

* HTML: markdown-it-py with raw HTML off (recipient data was interpolated into the text, so a
  "<script>" in a name is text, never markup), sanitised again by nh3 with a short allow-list, put
  into templates/emails/letter/layout.html, with the CSS inlined by css-inline.
* Plain text: paragraphs wrapped at 72 columns, lists with their numbers and hanging indents,
  quotes prefixed "> ", and links as numbered references listed under "Links:".

Values interpolated into the Markdown pass `escape_markdown`, so a recipient's name is printed as
typed and can never open a link, a list or a heading.

Compile once, format many: all recipients of a campaign share most of their letter. A body template
prints a *stand-in* for each value (`stand_in_for`, its Jinja `finalize`) and keeps the values
aside (`RenderedBody`); the stand-in is read by Markdown exactly as the escaped value would be (the
same kind of character at each edge: a space, punctuation or another character). The text with
stand-ins is the same for every copy of a drive, so it is planned once (`_plan`): cut at the blank
lines between top-level blocks (`split_blocks`); each run of pieces without values is parsed,
sanitised and inlined once; a one-paragraph piece with values (e.g. "**To:** {{ address_line }}")
is formatted once with its stand-ins (a *shape*), and per copy the values are put in where the
stand-ins came out, in the HTML and in the text before wrapping. Where a stand-in could be read
otherwise than its value (inside a link, code, an entity, a reference), or did not come out exactly
once, the piece is formatted in full from its real Markdown. The layout is rendered and inlined
once, with the subject and language put in by escaping. Every copy is exactly what formatting its
whole Markdown in one piece gives; the tests compare the two.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from operator import itemgetter
from typing import NamedTuple

import css_inline
import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt
from markdown_it.common.utils import isPunctChar
from markdown_it.token import Token
from markupsafe import escape

from outreach import PROJECT_ROOT

TEXT_WIDTH = 72
LAYOUT_TEMPLATE = "emails/letter/layout.html"
STYLESHEET = "emails/letter/style.css"
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
CACHED_BLOCK_CHARS = 16_000  # longer pieces of a letter are formatted every time, never kept

# The tags the parser below can produce (h4-h6 are lowered to h3, images become their alt text),
# and nothing else: nh3 is the second lock behind markdown-it's html=False.
ALLOWED_TAGS = frozenset(
    {"p", "strong", "em", "a", "ol", "ul", "li", "blockquote", "h1", "h2", "h3", "br", "hr", "code"}
)

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
# Indented code and fences are off: a letter has no code, and a Jinja template indented inside
# {% if %} blocks would otherwise turn a paragraph into a monospaced block.
_md.disable(["table", "code", "fence"])
# Every link is parsed, whatever its scheme, so that `_sanitise_tokens` can drop a javascript: or
# relative link while keeping its text (markdown-it's own check would print the raw "[x](...)").
_md.validateLink = lambda url: True  # type: ignore[method-assign]

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes={"a": {"href"}, "ol": {"start"}},
    url_schemes=set(LINK_SCHEMES),
    link_rel="noopener",
    strip_comments=True,
)

_inliner = css_inline.CSSInliner(
    keep_style_tags=False, keep_link_tags=False, load_remote_stylesheets=False
)

_layout_env = Environment(
    loader=FileSystemLoader(PROJECT_ROOT / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    auto_reload=False,
)

_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):", re.ASCII)
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*", re.ASCII)
_NEWLINE = re.compile(r"\r\n?")
# The blank lines before a line that starts a new top-level block for certain. A line that is
# indented or starts with a list marker may belong to the block before it (a list item's next
# paragraph, the next item of a loose list), so it is never cut off from it. The blank lines are
# taken possessively: a shorter run must not let the look-ahead see a blank line instead.
_CUT = re.compile(r"\n(?:[ \t]*\n)++(?![ \t]|$|(?:[-+*]|[0-9]{1,9}[.)])(?:[ \t\n]|$))")
# Glues a link's "[n]" to the word before it while wrapping. markdown-it replaces NUL in its input
# with U+FFFD, so the character cannot come from the letter itself.
_GLUE = "\x00"

_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_WHITESPACE = re.compile(r"\s+")
_FOLDED_SPACE = re.compile(r"^[\t\n\x0b\x0c\r ]|[\t\n\x0b\x0c\r]|[\t\n\x0b\x0c\r ]$")
# For `_plain_paragraph`: a backslash escape, the characters that start inline markup (or a hard
# break, or tab expansion), an ordered-list marker; and how html5ever (nh3, css-inline) writes text.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_PLAIN_SPECIALS = re.compile(r"[\\`*_\[\]!<>&\t\x00]")
_ORDERED_MARKER = re.compile(r"[0-9]{1,9}[.)]")
_HTML_TEXT = str.maketrans({"&": "&amp;", "\xa0": "&nbsp;", "<": "&lt;", ">": "&gt;"})

# The stand-ins a body template prints instead of its values (`stand_in_for`). Private-use
# characters: `escape_markdown` replaces them in data, and templates cannot hold them.
_STAND_IN_OPEN, _STAND_IN_CLOSE = "\ue002", "\ue003"
RESERVED_CHARACTERS = _STAND_IN_OPEN + _STAND_IN_CLOSE
_RESERVED = re.compile(f"[{RESERVED_CHARACTERS}]")
_STAND_IN_NUMBER = re.compile(r"\ue002([0-9]+)\ue003")
# Printed as themselves, not stood in for: digits could make a list marker with the template's
# "." after them ("{{ n }}. item").
_DIGITS = re.compile(r" ?[0-9]+ ?")
# In a shape, these could make a stand-in read otherwise than its value: an entity ("&{{x}};"),
# code (backslashes stay), an autolink, a reference definition (labels are matched by text).
_SHAPE_UNSAFE = re.compile(r"[&`<]|\]:")
# Characters an HTML serialiser might not write back as they are: a value with one is formatted
# in full, never by shape.
_VALUE_UNSAFE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_ESCAPE_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


class FormattedLetter(NamedTuple):
    """The two alternative parts of one letter: a complete HTML document and plain text."""

    html: str
    text: str


def escape_markdown(value: object) -> str:
    """`value` as Markdown that reads back as exactly its text, on one line.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for all of them),
    so no link, emphasis, entity, list or heading can start inside the value, and runs of white
    space (CR and LF included) become one space, so it cannot start a new block or a hard break.
    The two private-use characters of the stand-ins become U+FFFD.
    """
    return _escape_text(_value_text(str(value)))


@lru_cache(maxsize=4096)
def _value_text(text: str) -> str:
    """A value as a letter prints it: white-space runs as one space, reserved characters out.
    Cached: most values recur in every copy (signatories, the campaign, the date)."""
    text = _WHITESPACE.sub(" ", text)
    return _RESERVED.sub("\ufffd", text) if _RESERVED.search(text) else text


@lru_cache(maxsize=4096)
def _escape_text(text: str) -> str:
    return _ESCAPE_PUNCTUATION.sub(_backslashed, text)


def _backslashed(match: re.Match[str]) -> str:
    return "\\" + match.group()


def stand_in_for(value: object, values: list[str]) -> str:
    """What a body template prints for a placeholder's value (its Jinja `finalize`): a stand-in
    numbered by its place in `values`, where the value's text is added. A value that is empty,
    a space or a number, or that holds a control character, is printed as itself (escaped)."""
    text, left, right = _stand_in_parts(value if type(value) is str else str(value))
    if left is None:
        return text
    values.append(text)
    return f"{left}{_STAND_IN_OPEN}{len(values) - 1}{_STAND_IN_CLOSE}{right}"


@lru_cache(maxsize=4096)
def _stand_in_parts(value: str) -> tuple[str, str | None, str]:
    """(the value's text, the stand-in's edges), or (text, None, "") to print it as itself."""
    text = _value_text(value)
    if not text.strip() or _DIGITS.fullmatch(text):
        return text, None, ""
    if _VALUE_UNSAFE.search(text):  # formatted as part of the Markdown, never by shape
        return _escape_text(text), None, ""
    return (text, *_edges(text))


@lru_cache(maxsize=4096)
def _edges(text: str) -> tuple[str, str]:
    """What a stand-in has before and after its number: what Markdown's emphasis and hard breaks
    see at the value's edges (a space, punctuation, or nothing for any other character)."""
    first, last = text[0], text[-1]
    left = (
        " " if first == " " else "\\!" if first in _ASCII_PUNCTUATION or isPunctChar(first) else ""
    )
    right = " " if last == " " else "\\!" if last in _ASCII_PUNCTUATION or isPunctChar(last) else ""
    return left, right


class RenderedBody(NamedTuple):
    """A body template's output for one copy: Markdown with a stand-in for each value, and the
    values (as printed, not yet escaped)."""

    skeleton: str
    values: tuple[str, ...] = ()

    def markdown(self) -> str:
        """The copy's Markdown: each stand-in replaced by its escaped value."""
        return _put_back(self.skeleton, self.values)

    def size(self) -> int:
        return len(self.skeleton) + sum(len(value) for value in self.values)


def _put_back(skeleton: str, values: Sequence[str]) -> str:
    """The Markdown of a text with stand-ins: each stand-in (the edges its value gave it, and
    its number) replaced by its escaped value."""
    if _STAND_IN_OPEN not in skeleton:
        return skeleton
    parts: list[str] = []
    position = 0
    for match in _STAND_IN_NUMBER.finditer(skeleton):
        text = values[int(match.group(1))]
        left, right = _edges(text)
        parts.append(skeleton[position : match.start() - len(left)])
        parts.append(_escape_text(text))
        position = match.end() + len(right)
    parts.append(skeleton[position:])
    return "".join(parts)


def format_letter(markdown_text: str, *, subject: str, language: str = "en") -> FormattedLetter:
    """Both parts of a letter from its Markdown; `subject` is the HTML document's title."""
    return _assemble(_blocks(split_blocks(markdown_text)), subject, language)


def format_body(body: RenderedBody, *, subject: str, language: str = "en") -> FormattedLetter:
    """Both parts of a copy from its rendered body template (see the module's docstring)."""
    if not body.values:
        return format_letter(body.skeleton, subject=subject, language=language)
    if len(body.skeleton) > CACHED_BLOCK_CHARS * 4:  # never kept: formatted as it is
        return format_letter(body.markdown(), subject=subject, language=language)
    blocks = [
        step if isinstance(step, _Block) else step.filled(body.values)
        for step in _plan(body.skeleton)
    ]
    return _assemble(blocks, subject, language)


def _assemble(blocks: Sequence[_Block], subject: str, language: str) -> FormattedLetter:
    if not _LANGUAGE.fullmatch(language):
        raise ValueError(f"{language!r} is not a language tag such as 'en' or 'pt-BR'")
    layout = _layout()
    html = "".join(
        (
            layout.before_language,
            language,  # matched _LANGUAGE: letters, digits and hyphens only
            layout.before_subject,
            escape(subject),
            layout.before_body,
            *(block.html for block in blocks),
            layout.after_body,
        )
    )
    return FormattedLetter(html=html, text=_text(blocks, TEXT_WIDTH, language))


def _blocks(pieces: list[str]) -> list[_Block]:
    """The pieces formatted, each run of them as one piece (up to half the cached size): a run
    is the same in every copy, so one look-up finds it."""
    return [_block(run) for run in _runs(pieces)]


def _runs(pieces: list[str]) -> list[str]:
    """Consecutive pieces joined with one blank line, which formats as the blank lines they were
    cut at: a cut is only made before a top-level block, where their number changes nothing."""
    runs: list[str] = []
    run: list[str] = []
    size = 0
    for source in pieces:
        if run and size + len(source) > CACHED_BLOCK_CHARS // 2:
            runs.append("\n\n".join(run))
            run, size = [], 0
        run.append(source)
        size += len(source) + 2
    if run:
        runs.append("\n\n".join(run))
    return runs


def split_blocks(markdown_text: str) -> list[str]:
    """The text cut at blank lines into pieces that CommonMark parses independently.

    A cut is made only before a line that starts a new top-level block for certain: not indented
    and not a list marker (a blank line ends every other block, with code and raw HTML off). A
    link reference definition ("[x]: https://…") applies to the whole text, so a text with one is
    not cut at all.
    """
    text = _NEWLINE.sub("\n", markdown_text) if "\r" in markdown_text else markdown_text
    if "]:" in text:
        return [text]
    return _CUT.split(text)


def parse(markdown_text: str) -> list[Token]:
    """The token stream, with unsafe links unwrapped and images replaced by their alt text."""
    tokens = _md.parse(markdown_text, {})
    _sanitise_tokens(tokens)
    return tokens


def html_fragment(markdown_text: str) -> str:
    """The sanitised HTML of the body alone, without layout or styles (e.g. for a preview pane)."""
    return _html_fragment(parse(markdown_text))


def plain_text(markdown_text: str, *, width: int = TEXT_WIDTH) -> str:
    """The plain-text part alone."""
    return _text([_block(source) for source in split_blocks(markdown_text)], width)


def _link_allowed(href: str) -> bool:
    match = _SCHEME.match(href.strip().lower())
    return match is not None and match.group(1) in LINK_SCHEMES


def _sanitise_tokens(tokens: Sequence[Token]) -> None:
    """Unwrap links whose scheme is not http, https or mailto; images become their alt text;
    headings deeper than h3 become h3 (the layout styles three levels)."""
    for token in tokens:
        if token.type in ("heading_open", "heading_close") and token.tag in ("h4", "h5", "h6"):
            token.tag = "h3"
        if token.type != "inline" or not token.children:
            continue
        children: list[Token] = []
        dropping = False
        for child in token.children:
            if child.type == "link_open":
                dropping = not _link_allowed(str(child.attrGet("href") or ""))
                if dropping:
                    continue
            elif child.type == "link_close" and dropping:
                dropping = False
                continue
            elif child.type == "image":
                alt = "".join(c.content for c in child.children or () if c.type == "text")
                child = Token("text", "", 0, content=alt)
            children.append(child)
        token.children = children


def _html_fragment(tokens: Sequence[Token]) -> str:
    return _cleaner.clean(_md.renderer.render(tokens, _md.options, {}))


class _Block(NamedTuple):
    """One piece of `split_blocks`, formatted; cached, so never to be changed. (A named tuple
    rather than a dataclass: one is made per copy for each piece with values.)"""

    source: str  # its Markdown ("" for a piece without links formatted by shape: not needed)
    html: str  # sanitised and CSS-inlined
    links: tuple[str, ...]  # the URLs it refers to as [n], in order of first appearance
    text: str  # its plain text at TEXT_WIDTH, links numbered from 1; "" when it has no lines


def _block(source: str) -> _Block:
    # A campaign has a few dozen pieces that every copy shares; the cache only needs to hold those
    # and the few of the copy at hand. A very long piece is not kept, so memory stays bounded.
    return _cached_block(source) if len(source) <= CACHED_BLOCK_CHARS else _format_block(source)


def _format_block(source: str, *, shortcut: bool = True) -> _Block:
    """One piece formatted: by the shortcut when it is a plain paragraph, else by the parser."""
    lines = _plain_paragraph(source) if shortcut else None
    if lines is not None:
        styles = _styles()
        content = "\n".join(line.translate(_HTML_TEXT) for line in lines)
        text = "\n".join(_wrap(" ".join(lines), TEXT_WIDTH))
        return _Block(source, f"{styles.p_open}{content}{styles.p_close}", (), text)
    tokens = parse(source)
    writer = _PlainText(TEXT_WIDTH)
    text = "\n".join(writer.lines(tokens))
    html = _styles().inline_body(_html_fragment(tokens))
    return _Block(source, html, tuple(writer.links), text)


def _plain_paragraph(source: str) -> list[str] | None:
    """The lines of `source`, unescaped, if it is one paragraph of plain text (most often a
    salutation or a sentence with a name in it); None if it needs the Markdown parser.

    Plain means: no character that can start inline markup once backslash escapes are taken out,
    and no line that could start another block or lose white space at either end.
    """
    if _PLAIN_SPECIALS.search(_ESCAPED.sub("", source)):
        return None
    lines = source.rstrip("\n").split("\n")
    for line in lines:
        if (
            not line
            or line[0] in _ASCII_PUNCTUATION
            or line[0].isspace()
            or line[-1].isspace()
            or _ORDERED_MARKER.match(line)
        ):
            return None
    return [_ESCAPED.sub(r"\1", line) for line in lines]


def _block_text(source: str, links: tuple[tuple[str, int], ...], width: int) -> str:
    """A block's text when its links have other numbers than 1, 2, … or at another width."""
    if len(source) <= CACHED_BLOCK_CHARS:
        return _cached_block_text(source, links, width)
    return _format_block_text(source, links, width)


def _format_block_text(source: str, links: tuple[tuple[str, int], ...], width: int) -> str:
    return "\n".join(_PlainText(width, dict(links)).lines(parse(source)))


_cached_block = lru_cache(maxsize=256)(_format_block)
_cached_block_text = lru_cache(maxsize=256)(_format_block_text)


# --- the plan of a letter with values: constant runs and pieces formatted by shape ------------
@dataclass(frozen=True, eq=False)
class _Piece:
    """A piece of the letter with stand-ins: formatted by its shape per copy when it can be."""

    skeleton: str
    numbers: tuple[int, ...]  # the values it holds
    shape: _Shape | None
    # The last copies' results by their values: most pieces with values are the same in every
    # copy (the date line, the signatories with their names and links).
    recent: dict[tuple[str, ...], _Block] = field(default_factory=dict)

    def take(self, values: Sequence[str]) -> tuple[str, ...]:
        """Its own values, out of the whole body's."""
        if len(self.numbers) == 1:
            return (values[self.numbers[0]],)
        return itemgetter(*self.numbers)(values)

    def filled(self, values: Sequence[str]) -> _Block:
        mine = self.take(values)
        block = self.recent.get(mine)
        if block is None:
            block = self._fill(mine, values)
            if len(self.recent) >= 64:
                self.recent.clear()
            self.recent[mine] = block
        return block

    def _fill(self, mine: tuple[str, ...], values: Sequence[str]) -> _Block:
        shape = self.shape
        if shape is None:
            return _block(_put_back(self.skeleton, values))
        # The piece's Markdown is needed only to number its links otherwise (`_text`).
        source = _put_back(self.skeleton, values) if shape.links else ""
        html, segments = shape.html, list(shape.segments)
        for number, value in zip(self.numbers, mine, strict=True):
            left, right = _edges(value)
            written = f"{left}{_STAND_IN_OPEN}{number}{_STAND_IN_CLOSE}{right}".replace("\\!", "!")
            text = value.replace("\x00", "\ufffd")
            pieces = html.split(written)
            if len(pieces) != 2:  # not written exactly once: format the real Markdown instead
                return _block(_put_back(self.skeleton, values))
            html = text.translate(_HTML_TEXT).join(pieces)
            found = False
            for i, segment in enumerate(segments):
                if segment is not None and written in segment:
                    if found or segment.count(written) != 1:
                        return _block(_put_back(self.skeleton, values))
                    found = True
                    segments[i] = segment.replace(written, text)
            if not found:
                return _block(_put_back(self.skeleton, values))
        lines: list[str] = []
        for segment, wrapped in zip(segments, shape.wrapped, strict=True):
            if segment is None:
                lines += wrapped
            else:
                lines += [
                    line.replace(_GLUE, " ")
                    for line in (_wrap(segment, TEXT_WIDTH) if segment.strip() else [""])
                ]
        return _Block(source, html, shape.links, "\n".join(lines))


@lru_cache(maxsize=64)
def _plan(skeleton: str) -> tuple[_Block | _Piece, ...]:
    """How to format every copy whose body has this text with stand-ins (a drive has one, or a
    few if its template has conditions on the recipient)."""
    steps: list[_Block | _Piece] = []
    constant: list[str] = []
    for piece in split_blocks(skeleton):
        numbers = tuple(int(n) for n in _STAND_IN_NUMBER.findall(piece))
        if not numbers:
            constant.append(piece)
            continue
        steps += _blocks(constant)
        constant = []
        shape = _shape(piece) if len(piece) <= CACHED_BLOCK_CHARS else None
        steps.append(_Piece(piece, numbers, shape))
    return (*steps, *_blocks(constant))


@dataclass(frozen=True)
class _Shape:
    """A one-paragraph piece formatted with stand-ins instead of its values."""

    html: str  # sanitised and CSS-inlined, stand-ins in it
    # The text part's lines before wrapping (one per hard break) that hold stand-ins, None for the
    # others, which are wrapped once (`wrapped`).
    segments: tuple[str | None, ...]
    wrapped: tuple[tuple[str, ...], ...]
    links: tuple[str, ...]


@lru_cache(maxsize=256)
def _shape(shape_source: str) -> _Shape | None:
    """The piece formatted with its stand-ins, or None if it is not one paragraph or a stand-in
    sits where it could be read otherwise than its value (a link, code, an entity)."""
    if _SHAPE_UNSAFE.search(shape_source):
        return None
    tokens = parse(shape_source)
    if [t.type for t in tokens] != ["paragraph_open", "inline", "paragraph_close"]:
        return None
    inside_link = False
    for child in tokens[1].children or ():
        if child.type == "link_open":
            inside_link = True
            if _STAND_IN_OPEN in str(child.attrGet("href") or ""):
                return None
        elif child.type == "link_close":
            inside_link = False
        elif _STAND_IN_OPEN in child.content and (inside_link or child.type != "text"):
            return None
    writer = _PlainText(TEXT_WIDTH)
    segments = writer.segments(tokens[1])
    html = _styles().inline_body(_html_fragment(tokens))
    return _Shape(
        html=html,
        segments=tuple(s if _STAND_IN_OPEN in s else None for s in segments),
        wrapped=tuple(
            ()
            if _STAND_IN_OPEN in s
            else tuple(
                line.replace(_GLUE, " ") for line in (_wrap(s, TEXT_WIDTH) if s.strip() else [""])
            )
            for s in segments
        ),
        links=tuple(writer.links),
    )


# The heading of the link list in the text part, in the letter's language.
LINKS_HEADING = {
    "en": "Links", "fr": "Liens", "de": "Links", "es": "Enlaces", "it": "Link", "nl": "Links",
    "pl": "Linki", "pt": "Ligações",
}  # fmt: skip


def _text(blocks: Sequence[_Block], width: int, language: str = "en") -> str:
    links: dict[str, int] = {}
    parts: list[str] = []
    for block in blocks:
        text = block.text
        if block.links:
            first = not links  # a block's own links are distinct, numbered 1, 2, … in its text
            numbers = tuple(links.setdefault(url, len(links) + 1) for url in block.links)
            if width != TEXT_WIDTH or not first:
                text = _block_text(
                    block.source, tuple(zip(block.links, numbers, strict=True)), width
                )
        elif width != TEXT_WIDTH and block.source:
            text = _block_text(block.source, (), width)
        if text:
            parts.append(text)
    if links:
        heading = LINKS_HEADING.get(language.split("-")[0].lower(), LINKS_HEADING["en"])
        parts.append(f"{heading}:\n" + "\n".join(f"[{n}] {url}" for url, n in links.items()))
    return "\n\n".join(parts) + "\n" if parts else ""


@dataclass(frozen=True)
class _Styles:
    css: str
    page_open: str  # the layout's <div class="page" style="…"> as css-inline writes it
    p_open: str  # a top-level <p style="…"> as css-inline writes it
    p_close: str

    def inline_body(self, fragment: str) -> str:
        """Inline the stylesheet into part of the letter's body, as if it were inside the page."""
        inlined = _inliner.inline_fragment(f'<div class="page">{fragment}</div>', self.css)
        if not (inlined.startswith(self.page_open) and inlined.endswith("</div>")):
            raise RuntimeError("css-inline changed the letter's page element unexpectedly")
        return inlined[len(self.page_open) : -len("</div>")]


@cache
def _styles() -> _Styles:
    assert _layout_env.loader is not None
    css = _layout_env.loader.get_source(_layout_env, STYLESHEET)[0]
    page_open = _inliner.inline_fragment('<div class="page"></div>', css).removesuffix("</div>")
    styles = _Styles(css=css, page_open=page_open, p_open="", p_close="")
    p_open, p_close = styles.inline_body("<p>|</p>\n").split("|")
    return _Styles(css=css, page_open=page_open, p_open=p_open, p_close=p_close)


@dataclass(frozen=True)
class _Layout:
    """The inlined layout cut around the three values that change per letter."""

    before_language: str
    before_subject: str
    before_body: str
    after_body: str


@cache
def _layout() -> _Layout:
    marks = ("OUTREACH-LANGUAGE-MARK", "OUTREACH-SUBJECT-MARK", "OUTREACH-BODY-MARK")
    page = _layout_env.get_template(LAYOUT_TEMPLATE).render(
        language=marks[0], subject=marks[1], body=marks[2]
    )
    rest = _inliner.inline(page)
    pieces: list[str] = []
    for mark in marks:
        if rest.count(mark) != 1:
            raise RuntimeError(f"{LAYOUT_TEMPLATE} must use its {mark} placeholder exactly once")
        before, rest = rest.split(mark)
        pieces.append(before)
    language, subject, body = pieces
    return _Layout(
        before_language=language, before_subject=subject, before_body=body, after_body=rest
    )


@cache
def _wrapper(width: int) -> textwrap.TextWrapper:
    # A URL or a long word is never broken (break_long_words), nor a compound at its hyphen.
    return textwrap.TextWrapper(width=width, break_long_words=False, break_on_hyphens=False)


def _wrap(text: str, width: int) -> list[str]:
    width = max(width, 20)
    # What TextWrapper would do with a short line, without its cost (most lines of a signatory
    # block, a salutation): it changes nothing in a line that fits and has no white space to fold.
    if len(text) <= width and not _FOLDED_SPACE.search(text):
        return [text]
    return _wrapper(width).wrap(text)


class _PlainText:
    """Writes plain-text lines from a token stream, numbering links as it meets them."""

    def __init__(self, width: int, links: dict[str, int] | None = None) -> None:
        self.width = width
        self.links: dict[str, int] = links if links is not None else {}

    def lines(self, tokens: Sequence[Token]) -> list[str]:
        blocks, _ = self._blocks(tokens, 0, self.width)
        # A block without a line (an empty quote or heading) takes no blank line either, as it
        # takes none when it is a piece of its own (`_text` leaves out empty pieces).
        return _join([block for block in blocks if any(block)], tight=False)

    def _blocks(self, tokens: Sequence[Token], i: int, width: int) -> tuple[list[list[str]], int]:
        """The blocks from tokens[i] up to the close of the enclosing container (or the end)."""
        blocks: list[list[str]] = []
        while i < len(tokens):
            token = tokens[i]
            kind = token.type
            if token.nesting == -1:  # the close of our container: the caller consumes it
                break
            if kind in ("paragraph_open", "heading_open"):
                blocks.append(self._inline(tokens[i + 1], width))
                i += 3
            elif kind == "blockquote_open":
                inner, i = self._blocks(tokens, i + 1, width - 2)
                blocks.append([f"> {line}" if line else ">" for line in _join(inner, tight=False)])
                i += 1
            elif kind in ("bullet_list_open", "ordered_list_open"):
                lines, i = self._list(tokens, i, width)
                blocks.append(lines)
            elif kind == "hr":
                blocks.append(["* * *"])
                i += 1
            else:  # nothing else is enabled in the parser; skip what is unknown
                i += 1
        return blocks, i

    def _list(self, tokens: Sequence[Token], i: int, width: int) -> tuple[list[str], int]:
        opening = tokens[i]
        ordered = opening.type == "ordered_list_open"
        start = int(str(opening.attrGet("start") or 1)) if ordered else 1
        # markdown-it hides the paragraphs of a tight list; a loose one keeps a blank line between
        # items, as it has <p> margins in HTML.
        tight = any(t.hidden for t in tokens[i + 1 : i + 4] if t.type == "paragraph_open")
        items: list[list[str]] = []
        i += 1
        while tokens[i].type == "list_item_open":
            item_width = width - (len(str(start + len(items))) + 2 if ordered else 2)
            inner, i = self._blocks(tokens, i + 1, item_width)
            items.append(_join(inner, tight=tight))
            i += 1  # list_item_close
        i += 1  # the list's close
        delimiter = opening.markup if ordered else "-"
        markers = [f"{start + n}{delimiter}" if ordered else "-" for n in range(len(items))]
        hang = max((len(m) for m in markers), default=1) + 1
        lines: list[str] = []
        for n, (marker, item) in enumerate(zip(markers, items, strict=True)):
            if n and not tight:
                lines.append("")
            item = item or [""]
            lines.append(f"{marker.ljust(hang)}{item[0]}".rstrip())
            lines += [f"{' ' * hang}{line}" if line else "" for line in item[1:]]
        return lines, i

    def _inline(self, inline: Token, width: int) -> list[str]:
        """A paragraph's lines: each hard break starts a line, each line is wrapped at `width`."""
        lines: list[str] = []
        for text in self.segments(inline):
            wrapped = _wrap(text, width) if text.strip() else [""]
            lines += [line.replace(_GLUE, " ") for line in wrapped]
        return lines

    def segments(self, inline: Token) -> list[str]:
        """A paragraph's lines before wrapping, one per hard break; links are numbered."""
        segments: list[list[str]] = [[]]
        parts = segments[0]
        link_start, link_href = 0, ""
        for child in inline.children or ():
            kind = child.type
            if kind == "text" or kind == "code_inline":
                parts.append(child.content)
            elif kind == "softbreak":
                parts.append(" ")
            elif kind == "hardbreak":
                parts = []
                segments.append(parts)
            elif kind == "strong_open" or kind == "strong_close":
                parts.append("*")
            elif kind == "link_open":  # links do not nest in CommonMark
                link_start, link_href = len(parts), str(child.attrGet("href") or "")
            elif kind == "link_close":
                text = "".join(parts[link_start:]).strip()
                if not _is_own_url(text, link_href):
                    number = self.links.setdefault(link_href, len(self.links) + 1)
                    parts.append(f"{_GLUE}[{number}]")
        return ["".join(segment) for segment in segments]


def _is_own_url(text: str, href: str) -> bool:
    """True for <https://…>, [https://…](https://…) and <name@example.org>: print it once."""
    return text in (href, href.removeprefix("mailto:")) or _md.normalizeLink(text) == href


def _join(blocks: list[list[str]], *, tight: bool) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if lines and not tight:
            lines.append("")
        lines += block
    return lines
