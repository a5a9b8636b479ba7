"""Horizontal bars, one per category: reply rate by political group, by country.

Horizontal, so that long labels ("Greens/EFA", "Non-attached") stay readable on a phone; each bar
carries its figure in words ("12 of 40 · 30%"), so the picture reads without the axis too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

from outreach.charts.palette import BLUE, GRID, MUTED
from outreach.charts.svg import Chart, Table, fmt, open_svg, svg_markup, text

WIDTH = 420
LABEL_WIDTH = 118
FIGURE_WIDTH = 112
ROW = 26
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # what the bar's length shows, 0 to `maximum`
    figure: str  # the bar's figure in words, printed after it
    cells: Sequence[str] = ()  # the table row after the label (default: the figure)


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    *,
    columns: Sequence[str] = ("", "Figure"),
    maximum: float | None = None,
    colour: str = BLUE,
    empty: str = "Nothing yet.",
) -> Chart:
    table = Table(
        caption=title,
        columns=list(columns),
        rows=[[b.label, *(b.cells or [b.figure])] for b in bars],
    )
    height = TOP * 2 + max(len(bars), 1) * ROW
    parts = [open_svg(chart_id, WIDTH, height, title, description)]
    if not bars:
        parts.append(text(WIDTH / 2, TOP + ROW / 2 + 4, empty, text_anchor="middle"))
        parts.append("</svg>")
        return Chart(chart_id, title, description, svg_markup(parts), table)
    top_value = maximum if maximum is not None else max(b.value for b in bars) or 1
    track = WIDTH - LABEL_WIDTH - FIGURE_WIDTH
    parts.append(
        f'<line x1="{LABEL_WIDTH}" x2="{LABEL_WIDTH}" y1="{TOP}" y2="{height - TOP}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    for i, bar in enumerate(bars):
        y = TOP + i * ROW
        length = track * max(0.0, min(bar.value / top_value, 1.0)) if top_value else 0
        label = bar.label if len(bar.label) <= 15 else bar.label[:14] + "…"
        parts.append(f'<g class="bar" data-label="{escape(bar.label)}" data-value="{bar.value}">')
        parts.append(f"<title>{escape(bar.label)}: {escape(bar.figure)}</title>")
        parts.append(text(LABEL_WIDTH - 6, y + ROW / 2 + 4, label, text_anchor="end"))
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{fmt(y + 4)}" width="{fmt(track)}" height="{ROW - 8}" '
            f'fill="{GRID}" fill-opacity="0.45"/>'
        )
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{fmt(y + 4)}" width="{fmt(length)}" height="{ROW - 8}" '
            f'fill="{colour}"/>'
        )
        parts.append(text(LABEL_WIDTH + track + 6, y + ROW / 2 + 4, bar.figure, font_size=12))
        parts.append("</g>")
    parts.append("</svg>")
    return Chart(chart_id, title, description, svg_markup(parts), table)
