"""The pictures, read back as SVG: each test parses what outreach.charts drew and checks its
shapes, its accessible name and description, and the values it shows against the figures given."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from contacts.countries import EU_COUNTRIES
from outreach.charts import Bar, Series, bar_chart, eu_map, time_chart
from outreach.charts.choropleth import GEOMETRY, Rate
from outreach.charts.palette import NO_DATA, SEQUENTIAL, STATE_COLOURS, text_on
from outreach.charts.svg import nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(chart: object) -> ET.Element:
    root = ET.fromstring(str(chart.svg))  # type: ignore[attr-defined]  # noqa: S314 - our own SVG
    assert root.tag == f"{SVG}svg"
    return root


def accessible(root: ET.Element, chart_id: str) -> tuple[str, str]:
    """The picture's accessible name and description, through the ids aria-labelledby names."""
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    assert (title.get("id"), desc.get("id")) == (title_id, desc_id)
    assert title_id.startswith(chart_id)
    return title.text or "", desc.text or ""


def points(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in element.get("points", "").split()]  # type: ignore[misc]


def test_stacked_time_chart_layers_add_up_to_the_total() -> None:
    """A stacked area chart draws one polygon per series, in the given order with its colour;
    the top edge of the last layer is the total at each time (highest where the total is), and
    the table has one row per period with every series and the total."""
    t0 = datetime(2026, 11, 29, 8, tzinfo=UTC)
    times = [t0 + timedelta(hours=i) for i in range(4)]
    replied, sent, waiting = [0, 1, 2, 3], [0, 10, 20, 30], [40, 29, 18, 7]
    chart = time_chart(
        "states",
        "Where the letters stood",
        "Stacked areas.",
        times,
        [
            Series("replied", replied, STATE_COLOURS["replied"]),
            Series("sent", sent, STATE_COLOURS["sent"]),
            Series("waiting", waiting, STATE_COLOURS["waiting"]),
        ],
        stacked=True,
    )
    root = parse(chart)
    assert accessible(root, "states") == ("Where the letters stood", "Stacked areas.")
    polygons = root.findall(f".//{SVG}polygon")
    assert [p.get("data-series") for p in polygons] == ["replied", "sent", "waiting"]
    assert [p.get("fill") for p in polygons] == [
        STATE_COLOURS["replied"], STATE_COLOURS["sent"], STATE_COLOURS["waiting"],
    ]  # fmt: skip
    # Every total is 40: the top edge of the last layer is one horizontal line.
    top_edge = points(polygons[-1])[:4]
    assert len({y for _, y in top_edge}) == 1
    # The first layer's top rises with the replies (y grows downwards).
    first_top = [y for _, y in points(polygons[0])[:4]]
    assert first_top == sorted(first_top, reverse=True)
    assert chart.table.columns == ["Period starting (UTC)", "replied", "sent", "waiting", "Total"]
    assert chart.table.rows[2] == ["2026-11-29 10:00", "2", "20", "18", "40"]
    legend = [t.text for t in root.findall(f".//{SVG}g[@class='legend']/{SVG}text")]
    assert legend == ["replied: 3", "sent: 30", "waiting: 7"]


def test_line_chart_plots_each_value_at_its_time() -> None:
    """Unstacked, each series is a polyline with one point per time, x proportional to the
    time and y to the value (the highest value the highest point)."""
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    times = [t0, t0 + timedelta(days=1), t0 + timedelta(days=3)]
    chart = time_chart("sig", "Signatures", "Lines.", times, [Series("signed", [5, 0, 10], "#000")])
    (line,) = parse(chart).findall(f".//{SVG}polyline")
    (x0, y0), (x1, y1), (x3, y3) = points(line)
    assert (x1 - x0) * 3 == pytest.approx(x3 - x0, abs=0.2)
    assert y3 < y0 < y1


def test_hostile_names_are_escaped_and_ids_are_checked() -> None:
    """Text from the data (a series, a bar, a title) never becomes markup: the SVG still parses
    and shows the text as written; a chart id that could break out of its attribute is refused."""
    evil = '<script>alert("x")</script> & "quotes"'
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    chart = time_chart(
        "x", evil, evil, [t0, t0 + timedelta(days=1)], [Series(evil, [1, 2], "#000")]
    )
    root = parse(chart)
    assert accessible(root, "x") == (evil, evil)
    assert root.find(f".//{SVG}script") is None
    assert root.find(f".//{SVG}polyline").get("data-series") == evil  # type: ignore[union-attr]
    bars = parse(bar_chart("b", "t", "d", [Bar(evil, 0.5, evil)], maximum=1))
    assert bars.find(f".//{SVG}g[@class='bar']/{SVG}title").text == f"{evil}: {evil}"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="chart id"):
        time_chart('x" onload="alert(1)', "t", "d", [], [])


def test_bars_are_as_long_as_their_share_of_the_maximum() -> None:
    """Each bar's filled rectangle is value / maximum of the track; its title and figure say the
    numbers in words; the table has a row per bar with the given cells."""
    bars = [
        Bar("EPP", 0.30, "12 of 40 · 30%", cells=["40", "12", "30%"]),
        Bar("Greens/EFA", 0.15, "3 of 20 · 15%", cells=["20", "3", "15%"]),
        Bar("Non-attached members", 0.0, "0 of 5 · 0%", cells=["5", "0", "0%"]),
    ]
    chart = bar_chart(
        "groups", "Reply rate by group", "Bars.", bars, maximum=0.4,
        columns=("Group", "Reached", "Replied", "Rate"),
    )  # fmt: skip
    root = parse(chart)
    groups = root.findall(f".//{SVG}g[@class='bar']")
    assert [g.get("data-label") for g in groups] == ["EPP", "Greens/EFA", "Non-attached members"]
    widths = []
    for g in groups:
        track, filled = g.findall(f"{SVG}rect")
        widths.append(float(filled.get("width", 0)) / float(track.get("width", 1)))
    assert widths == pytest.approx([0.75, 0.375, 0.0], abs=0.01)
    assert groups[0].find(f"{SVG}title").text == "EPP: 12 of 40 · 30%"  # type: ignore[union-attr]
    assert chart.table.columns == ["Group", "Reached", "Replied", "Rate"]
    assert chart.table.rows[1] == ["Greens/EFA", "20", "3", "15%"]
    # A long label is shortened in the picture, whole in its title and the table.
    labels = [t.text for t in root.findall(f".//{SVG}g[@class='bar']/{SVG}text")]
    assert "Non-attached m…" in labels


def test_empty_pictures_say_so() -> None:
    """No data draws no shape but a sentence, and an empty table."""
    root = parse(bar_chart("e", "t", "d", [], empty="No letter has reached anyone yet."))
    assert root.findall(f".//{SVG}rect") == []
    assert "No letter has reached anyone yet." in [t.text for t in root.iter(f"{SVG}text")]
    root = parse(time_chart("e2", "t", "d", [], []))
    assert "Nothing yet." in [t.text for t in root.iter(f"{SVG}text")]


def test_the_map_has_the_27_member_states_coloured_by_their_rate() -> None:
    """The map draws one path per member state, named by its code; a higher rate is a darker
    class of the ramp, a country without letters is the no-data grey with a dashed edge and says
    so; each country's tooltip and table row give its figures; Malta and Luxembourg get a dot."""
    rates = {"FR": Rate(2, 10), "DE": Rate(4, 10), "MT": Rate(3, 6), "PL": Rate(0, 8)}
    chart = eu_map("map", "Reply rate by member state", "A map.", rates)
    root = parse(chart)
    title, desc = accessible(root, "map")
    assert title == "Reply rate by member state"
    assert "outermost regions" in desc  # it says what it does not draw
    paths = {p.get("data-country"): p for p in root.iter(f"{SVG}path")}
    assert set(paths) == set(EU_COUNTRIES)
    ramp = list(SEQUENTIAL)
    fr, de, mt, pl = (ramp.index(paths[c].get("fill", "")) for c in ("FR", "DE", "MT", "PL"))
    assert pl < fr < de < mt  # 0% < 20% < 40% < 50%: classes of 10 points
    assert paths["AT"].get("fill") == NO_DATA
    assert paths["AT"].get("stroke-dasharray")
    assert paths["AT"].find(f"{SVG}title").text == "Austria: no letter"  # type: ignore[union-attr]
    assert paths["DE"].find(f"{SVG}title").text == "Germany: 4 of 10 letters replied (40%)"  # type: ignore[union-attr]
    dots = {c.get("data-country") for c in root.iter(f"{SVG}circle")}
    assert dots == {"MT", "LU"}
    rows = {r[0]: r[1:] for r in chart.table.rows}
    assert len(rows) == 27
    assert rows["Malta"] == ["3", "6", "50%"]
    assert rows["Austria"] == ["0", "0", "—"]
    legend = [t.text for t in root.findall(f".//{SVG}g[@class='legend']/{SVG}text")]
    assert legend[-1] == "no letter"
    assert legend[0].startswith("0%")


def test_the_geometry_file_is_small_and_carries_its_licence() -> None:
    """The committed shapes: 27 closed paths of integer coordinates in a 1000-wide box, the
    attribution to Natural Earth and world-atlas, small enough to inline in a page."""
    data = json.loads(GEOMETRY.read_text(encoding="utf-8"))
    assert GEOMETRY.stat().st_size < 40_000
    assert "Natural Earth" in data["licence"]
    assert "world-atlas" in data["licence"]
    assert data["width"] == 1000
    for path in data["paths"].values():
        assert re.fullmatch(r"(M-?\d+ -?\d+(l-?\d+ -?\d+)+z)+", path)


def test_palette_and_ticks() -> None:
    """State colours are all different; text on a dark fill is white, on a light one black;
    axis ticks are round steps from 0 that reach the maximum."""
    assert len(set(STATE_COLOURS.values())) == len(STATE_COLOURS)
    assert text_on("#08519c") == "#ffffff"
    assert text_on("#c6dbef") == "#000000"
    assert nice_ticks(37) == [0, 10, 20, 30, 40]
    assert nice_ticks(4) == [0, 1, 2, 3, 4]
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(0.37) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
