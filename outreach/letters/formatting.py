"""Turning a rendered letter body (Markdown) into the HTML and plain-text parts of one e-mail.

A campaign's body template renders, per recipient, to CommonMark text. This module parses that text
and writes both parts of a multipart/alternative message from the same token stream:

* HTML: markdown-it-py with raw HTML off (recipient data was interpolated into the text, so a
  "<script>" in a name is text, never markup), sanitised again by nh3 with a short allow-list, put
  into templates/emails/letter/layout.html, with the CSS inlined by css-inline.
* Plain text: paragraphs wrapped at 72 columns, lists with their numbers and hanging indents,
  quotes prefixed "> ", and links as numbered references listed under "Links:".

Values interpolated into the Markdown should pass `escape_markdown` first (a Jinja `finalize`), so a
recipient's name is printed as typed and can never open a link, a list or a heading.

Compile once, format many: all recipients of a campaign share most of their letter, so the text is
cut at the blank lines between top-level blocks (`split_blocks`) and each piece is parsed, sanitised
and inlined once and then taken from a cache; per recipient only the pieces that differ (the
salutation, a paragraph with a name) are formatted. The layout is rendered and inlined once, with
the subject and language put in by escaping. `format_letter` gives exactly what formatting the
whole text in one piece gives; the tests compare the two.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import css_inline
import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt
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
_MARKDOWN_PUNCTUATION = str.maketrans({c: "\\" + c for c in _ASCII_PUNCTUATION})
_WHITESPACE = re.compile(r"\s+")
_FOLDED_SPACE = re.compile(r"^[\t\n\x0b\x0c\r ]|[\t\n\x0b\x0c\r]|[\t\n\x0b\x0c\r ]$")
# For `_plain_paragraph`: a backslash escape, the characters that start inline markup (or a hard
# break, or tab expansion), an ordered-list marker; and how html5ever (nh3, css-inline) writes text.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_PLAIN_SPECIALS = re.compile(r"[\\`*_\[\]!<>&\t\x00]")
_ORDERED_MARKER = re.compile(r"[0-9]{1,9}[.)]")
_HTML_TEXT = str.maketrans({"&": "&amp;", "\xa0": "&nbsp;", "<": "&lt;", ">": "&gt;"})


@dataclass(frozen=True)
class FormattedLetter:
    """The two alternative parts of one letter: a complete HTML document and plain text."""

    html: str
    text: str


def escape_markdown(value: object) -> str:
    """`value` as Markdown that reads back as exactly its text, on one line.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for all of them),
    so no link, emphasis, entity, list or heading can start inside the value, and runs of white
    space (CR and LF included) become one space, so it cannot start a new block or a hard break.
    Fits Jinja's `finalize=` for a body template whose placeholders are recipient data.
    """
    return _WHITESPACE.sub(" ", str(value)).translate(_MARKDOWN_PUNCTUATION)


def format_letter(markdown_text: str, *, subject: str, language: str = "en") -> FormattedLetter:
    """Both parts of a letter from its rendered body; `subject` is the HTML document's title."""
    if not _LANGUAGE.fullmatch(language):
        raise ValueError(f"{language!r} is not a language tag such as 'en' or 'pt-BR'")
    blocks = [_block(source) for source in split_blocks(markdown_text)]
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


@dataclass(frozen=True)
class _Block:
    """One piece of `split_blocks`, formatted; cached, so never to be changed."""

    source: str
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
            numbers = tuple(links.setdefault(url, len(links) + 1) for url in block.links)
            if width != TEXT_WIDTH or numbers != tuple(range(1, len(numbers) + 1)):
                text = _block_text(
                    block.source, tuple(zip(block.links, numbers, strict=True)), width
                )
        elif width != TEXT_WIDTH:
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
        return _join(blocks, tight=False)

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
        lines: list[str] = []
        for segment in segments:
            text = "".join(segment)
            wrapped = _wrap(text, width) if text.strip() else [""]
            lines += [line.replace(_GLUE, " ") for line in wrapped]
        return lines


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
