"""Pictures drawn on the server as SVG: no JavaScript, no charting library, no CDN.

Each function takes plain values (never a session or an ORM object) and returns a `Chart`: the
SVG (with <title> and <desc>, `role="img"`, a colour-blind-safe palette, a viewBox that scales to
a phone's width) and the same figures as a `Table`, which the pages print under the picture for
screen readers, for print and for anyone who would rather read the numbers.

| module | draws |
|---|---|
| `svg.py` | `Chart`, `Table`, escaping, axis ticks: what every picture shares |
| `palette.py` | the Okabe-Ito colours of the delivery states, a sequential ColorBrewer ramp |
| `timeseries.py` | `time_chart`: lines or stacked areas over time |
| `bars.py` | `bar_chart`: horizontal bars with a label and a figure each |
| `choropleth.py` | `eu_map`: the 27 member states coloured by a rate (`eu_map.json`, built once by `build_eu_map.py` from Natural Earth) |
"""

from outreach.charts.bars import Bar, bar_chart
from outreach.charts.choropleth import eu_map
from outreach.charts.svg import Chart, Table
from outreach.charts.timeseries import Series, time_chart

__all__ = ["Bar", "Chart", "Series", "Table", "bar_chart", "eu_map", "time_chart"]
