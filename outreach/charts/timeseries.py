"""Lines or stacked areas over time: deliveries by state, signatures per day.

The caller gives the times (the start of each period, UTC) and one `Series` per line or layer;
`stacked=True` draws areas on top of one another in the order given (the first at the bottom),
so the top edge is the total. The legend names every series with its colour and its last value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import escape

from outreach.charts.palette import GRID, MUTED
from outreach.charts.svg import Chart, Table, fmt, nice_ticks, number, open_svg, svg_markup, text

WIDTH, PLOT_HEIGHT = 400, 190  # narrow: its 13-unit text stays readable at a phone's width
LEFT, RIGHT, TOP = 48, 14, 12
AXIS_GAP = 36  # the time labels under the plot
LEGEND_ROW = 20


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str


def _time_label(moment: datetime, span: timedelta) -> str:
    if span <= timedelta(days=1):
        return moment.strftime("%H:%M")
    if span <= timedelta(days=4):
        return moment.strftime("%d %b %H:%M")
    return moment.strftime("%d %b")


def time_chart(
    chart_id: str,
    title: str,
    description: str,
    times: Sequence[datetime],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    time_heading: str = "Period starting (UTC)",
) -> Chart:
    if any(len(s.values) != len(times) for s in series):
        raise ValueError("every series needs one value per time")
    table = Table(
        caption=title,
        columns=[time_heading, *(s.name for s in series)] + (["Total"] if stacked else []),
        rows=[
            [
                t.strftime("%Y-%m-%d %H:%M"),
                *(number(s.values[i]) for s in series),
                *([number(sum(s.values[i] for s in series))] if stacked else []),
            ]
            for i, t in enumerate(times)
        ],
    )
    legend_rows = (len(series) + 1) // 2
    height = TOP + PLOT_HEIGHT + AXIS_GAP + legend_rows * LEGEND_ROW + 4
    parts = [open_svg(chart_id, WIDTH, height, title, description)]
    if not times:
        parts.append(text(WIDTH / 2, TOP + PLOT_HEIGHT / 2, "Nothing yet.", text_anchor="middle"))
        parts.append("</svg>")
        return Chart(chart_id, title, description, svg_markup(parts), table)

    # One period alone would be a single point: draw it as a plateau over that period.
    points = list(times)
    values = [list(s.values) for s in series]
    if len(points) == 1:
        points = [points[0], points[0] + timedelta(hours=1)]
        values = [v * 2 for v in values]
    start, end = points[0], points[-1]
    span = end - start
    plot_width = WIDTH - LEFT - RIGHT

    def x(moment: datetime) -> float:
        return LEFT + plot_width * ((moment - start) / span if span else 0)

    if stacked:
        tops = [0.0] * len(points)
        layers = []
        for v in values:
            bottom = tops
            tops = [b + n for b, n in zip(bottom, v, strict=True)]
            layers.append((bottom, tops))
        highest = max(tops)
    else:
        highest = max((max(v) for v in values), default=0)
    ticks = nice_ticks(highest)
    top_value = ticks[-1]

    def y(value: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - value / top_value)

    # Grid and value axis.
    parts.append('<g class="axis" font-size="12">')
    for tick in ticks:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{fmt(y(tick))}" y2="{fmt(y(tick))}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(text(LEFT - 6, y(tick) + 4, number(tick), text_anchor="end", fill=MUTED))
    labels = 4 if len(points) > 4 else len(points)
    for k in range(labels):
        i = round(k * (len(points) - 1) / max(labels - 1, 1))
        anchor = "start" if k == 0 else "end" if k == labels - 1 else "middle"
        parts.append(
            text(
                x(points[i]),
                TOP + PLOT_HEIGHT + 16,
                _time_label(points[i], span),
                text_anchor=anchor,
                fill=MUTED,
            )
        )
    parts.append("</g>")

    # The data.
    for index, (s, v) in enumerate(zip(series, values, strict=True)):
        name = escape(s.name)
        if stacked:
            bottom, top = layers[index]
            outline = [f"{fmt(x(t))},{fmt(y(n))}" for t, n in zip(points, top, strict=True)]
            back = [f"{fmt(x(t))},{fmt(y(n))}" for t, n in zip(points, bottom, strict=True)]
            parts.append(
                f'<polygon class="series" data-series="{name}" points="{" ".join(outline + back[::-1])}" '
                f'fill="{s.colour}" fill-opacity="0.85" stroke="{s.colour}" stroke-width="1"/>'
            )
        else:
            line = [f"{fmt(x(t))},{fmt(y(n))}" for t, n in zip(points, v, strict=True)]
            parts.append(
                f'<polyline class="series" data-series="{name}" points="{" ".join(line)}" '
                f'fill="none" stroke="{s.colour}" stroke-width="2.5" stroke-linejoin="round"/>'
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{fmt(y(0))}" y2="{fmt(y(0))}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )

    # Legend: two columns under the time axis, each with the last value.
    base = TOP + PLOT_HEIGHT + AXIS_GAP
    parts.append('<g class="legend">')
    for i, s in enumerate(series):
        lx = LEFT + (i % 2) * (plot_width / 2)
        ly = base + (i // 2) * LEGEND_ROW
        parts.append(
            f'<rect x="{fmt(lx)}" y="{fmt(ly - 10)}" width="12" height="12" fill="{s.colour}"/>'
        )
        parts.append(text(lx + 18, ly, f"{s.name}: {number(s.values[-1])}"))
    parts.append("</g></svg>")
    return Chart(chart_id, title, description, svg_markup(parts), table)
