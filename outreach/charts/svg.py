"""What every picture shares: the `Chart` it returns, its data `Table`, escaping, axis ticks.

A picture is an inline <svg role="img"> labelled by its own <title> and <desc> (ids derived from
the chart's id, so several pictures on one page never share one), drawn in a viewBox so that it
scales to the width of its container: the same picture serves a laptop and a phone. Text is
escaped with markupsafe; nothing from the data reaches the SVG unescaped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from outreach.charts.palette import INK

FONT = "system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Table:
    """The picture's figures as rows, for the table printed with it."""

    caption: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    svg: Markup
    table: Table


def check_id(chart_id: str) -> str:
    if not _ID.match(chart_id):
        raise ValueError(f"a chart id is a letter then letters, digits, - or _: {chart_id!r}")
    return chart_id


def open_svg(chart_id: str, width: float, height: float, title: str, description: str) -> str:
    """The <svg> element with its accessible name and description."""
    check_id(chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" '
        f'viewBox="0 0 {fmt(width)} {fmt(height)}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="{FONT}" font-size="13" fill="{INK}">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )


def text(x: float, y: float, content: str, **attrs: str | float) -> str:
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{fmt(x)}" y="{fmt(y)}"{extra}>{escape(content)}</text>'


def fmt(value: float) -> str:
    """A coordinate with at most one decimal: small files, no visible difference."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else str(rounded)


def number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def percent(fraction: float) -> str:
    return (
        f"{100 * fraction:.0f}%"
        if fraction * 100 >= 10 or fraction == 0
        else f"{100 * fraction:.1f}%"
    )


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2 or 5 times a power of ten) up to at least `maximum`."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if step < 1 and maximum >= 1:
        step = 1
    top = math.ceil(maximum / step - 1e-9) * step
    ticks = []
    value = 0.0
    while value <= top + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def svg_markup(parts: list[str]) -> Markup:
    """The finished picture as Markup: every piece of text in it went through `escape` (or is a
    number or a colour of ours), so the page may print it as it is."""
    return Markup("".join(parts))  # noqa: S704 - built from escaped parts only
