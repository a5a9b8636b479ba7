"""The 27 EU member states coloured by a rate (the share of letters answered, by country).

The shapes are `eu_map.json`, projected SVG paths built once from Natural Earth by
`build_eu_map.py` (the outermost regions are left out; the description says so). A country
without letters is drawn pale grey with a dashed edge and says "no letter" in its tooltip and the
table. Malta and Luxembourg are too small to see at phone size, so each also gets a dot in its
colour. The classes are equal steps from 0 to a round maximum, in ColorBrewer's "Blues".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import escape

from contacts.countries import EU_COUNTRIES
from outreach.charts.palette import INK, MUTED, NO_DATA, SEQUENTIAL
from outreach.charts.svg import Chart, Table, fmt, nice_ticks, open_svg, percent, svg_markup, text

GEOMETRY = Path(__file__).with_name("eu_map.json")
DOTTED = ("MT", "LU")
MAP_WIDTH = 480  # the drawing's width in the viewBox; the legend goes under it


@dataclass(frozen=True)
class Rate:
    part: int  # e.g. letters answered
    whole: int  # e.g. letters that reached their recipient

    @property
    def value(self) -> float:
        return self.part / self.whole if self.whole else 0.0


@cache
def geometry() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GEOMETRY.read_text(encoding="utf-8"))
    return data


def classes(highest: float) -> list[float]:
    """Class limits, equal round steps from 0 to at least `highest` (a share, 0 to 1)."""
    if highest <= 0:
        return [0.0, 0.05]
    ticks = nice_ticks(highest * 100, count=len(SEQUENTIAL))
    return [t / 100 for t in ticks]


def eu_map(
    chart_id: str,
    title: str,
    description: str,
    rates: Mapping[str, Rate],
    *,
    part_name: str = "replied",
    whole_name: str = "letters",
) -> Chart:
    geo = geometry()
    scale = MAP_WIDTH / geo["width"]
    map_height = geo["height"] * scale
    limits = classes(max((r.value for r in rates.values() if r.whole), default=0))
    steps = len(limits) - 1
    # Spread the classes over the ramp, darkest for the highest.
    ramp = [SEQUENTIAL[round(i * (len(SEQUENTIAL) - 1) / max(steps - 1, 1))] for i in range(steps)]

    def colour(rate: Rate) -> str:
        if not rate.whole:
            return NO_DATA
        for i in range(steps):
            if rate.value <= limits[i + 1] + 1e-12:
                return ramp[i]
        return ramp[-1]

    names = {code: name for code, (name, _) in EU_COUNTRIES.items()}
    rows = []
    for code in sorted(names, key=names.__getitem__):
        rate = rates.get(code, Rate(0, 0))
        rows.append(
            [
                names[code],
                str(rate.part),
                str(rate.whole),
                percent(rate.value) if rate.whole else "—",
            ]
        )
    table = Table(title, ["Country", part_name.capitalize(), whole_name.capitalize(), "Rate"], rows)

    legend_top = map_height + 14
    height = legend_top + 44
    full_description = f"{description} Not drawn: {geo['left_out']}."
    parts = [open_svg(chart_id, MAP_WIDTH, height, title, full_description)]
    parts.append(f'<g transform="scale({scale:.4f})" stroke="#ffffff" stroke-width="1.2">')
    for code, path in sorted(geo["paths"].items()):
        rate = rates.get(code, Rate(0, 0))
        fill = colour(rate)
        label = (
            f"{names[code]}: {rate.part} of {rate.whole} {whole_name} {part_name} ({percent(rate.value)})"
            if rate.whole
            else f"{names[code]}: no letter"
        )
        dash = ' stroke="#8a93a3" stroke-dasharray="3 2"' if not rate.whole else ""
        parts.append(
            f'<path class="country" data-country="{code}" data-rate="{rate.value:.4f}" '
            f'fill="{fill}"{dash} d="{path}"><title>{escape(label)}</title></path>'
        )
    for code in DOTTED:
        rate = rates.get(code, Rate(0, 0))
        cx, cy = geo["centres"][code]
        parts.append(
            f'<circle class="dot" data-country="{code}" cx="{cx}" cy="{cy}" r="9" '
            f'fill="{colour(rate)}" stroke="{INK}" stroke-width="1.5"><title>{escape(names[code])}</title></circle>'
        )
    parts.append("</g>")
    # Legend: the classes, then "no letter".
    parts.append('<g class="legend" font-size="15">')
    box = (MAP_WIDTH - 20) / (steps + 1)
    for i in range(steps):
        x = 10 + i * box
        parts.append(
            f'<rect x="{fmt(x)}" y="{fmt(legend_top)}" width="{fmt(box - 4)}" height="12" '
            f'fill="{ramp[i]}" stroke="{MUTED}" stroke-width="0.5"/>'
        )
        parts.append(
            text(
                x, legend_top + 26, f"{percent(limits[i])}\u2013{percent(limits[i + 1])}", fill=INK
            )
        )
    x = 10 + steps * box
    parts.append(
        f'<rect x="{fmt(x)}" y="{fmt(legend_top)}" width="{fmt(box - 4)}" height="12" '
        f'fill="{NO_DATA}" stroke="#8a93a3" stroke-dasharray="3 2"/>'
    )
    parts.append(text(x, legend_top + 26, "no letter", fill=INK))
    parts.append("</g></svg>")
    return Chart(chart_id, title, full_description, svg_markup(parts), table)
