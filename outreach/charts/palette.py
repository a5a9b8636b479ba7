"""Colours that people with any common colour-vision deficiency can tell apart.

The categories use the Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2002), the
sequential ramp ColorBrewer's single-hue "Blues" (Brewer, colorbrewer2.org), both safe for
deuteranopia, protanopia and tritanopia. No picture relies on colour alone: every series is
named in a legend and every figure is in the table beside the picture.
"""

from __future__ import annotations

ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#BBBBBB"
INK = "#1d2330"
MUTED = "#5b6475"
GRID = "#d9dee7"
NO_DATA = "#eceff4"

# Where a delivery stands, in the order the stacked pictures draw them (bottom first).
STATE_COLOURS: dict[str, str] = {
    "replied": BLUE,
    "sent": BLUISH_GREEN,
    "bounced": VERMILLION,
    "failed": REDDISH_PURPLE,
    "uncertain": ORANGE,
    "waiting": GREY,
}

# ColorBrewer "Blues" (classes 3 to 7 of 9, the palest left out: it would pass for "no letter").
SEQUENTIAL = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")


def text_on(fill: str) -> str:
    """Black or white, whichever reads better on `fill` (WCAG relative luminance)."""
    r, g, b = (int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return "#000000" if luminance > 0.179 else "#ffffff"
