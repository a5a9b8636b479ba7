"""Build the committed map of the EU member states (`eu_map.json`) from Natural Earth's shapes.

Run once, by hand, when the shapes should change; the web app never fetches anything. The source
is the `world-atlas` package of the npm registry (Natural Earth 1:50m admin-0 countries as
TopoJSON; Natural Earth is public domain, world-atlas is ISC):

    npm pack world-atlas@2 && tar xzf world-atlas-2.0.2.tgz
    .venv/bin/python -m outreach.charts.build_eu_map package/countries-50m.json

It decodes the TopoJSON arcs, keeps the 27 member states (by their ISO 3166-1 numeric ids), drops
the rings outside Europe (the outermost regions: French Guiana, Réunion, the Canaries, the Azores,
Madeira...; the map says so in its description), projects the rest with the Lambert azimuthal
equal-area projection centred on 10°E 52°N (the projection of EPSG:3035, the EU's statistical
maps), scales it into a 1000-unit-wide box, simplifies each ring (Douglas-Peucker, half a unit)
and writes one SVG path per country with integer coordinates.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("eu_map.json")
WIDTH = 1000.0
TOLERANCE = 0.6  # in output units: invisible at any size the pages draw the map
# Rings whose centre lies outside this box (longitude, latitude) are not in continental Europe.
EUROPE = (-25.0, 34.0, 45.0, 72.0)
LON0, LAT0 = math.radians(10.0), math.radians(52.0)

# ISO 3166-1 numeric -> the alpha-2 codes of contacts.countries.EU_COUNTRIES (Greece is GR).
MEMBER_STATES = {
    "040": "AT", "056": "BE", "100": "BG", "191": "HR", "196": "CY", "203": "CZ", "208": "DK",
    "233": "EE", "246": "FI", "250": "FR", "276": "DE", "300": "GR", "348": "HU", "372": "IE",
    "380": "IT", "428": "LV", "440": "LT", "442": "LU", "470": "MT", "528": "NL", "616": "PL",
    "620": "PT", "642": "RO", "703": "SK", "705": "SI", "724": "ES", "752": "SE",
}  # fmt: skip

LICENCE = (
    "Shapes: Natural Earth 1:50m admin-0 countries (public domain, naturalearthdata.com), "
    "as TopoJSON in the world-atlas package 2.0.2 (ISC licence, Copyright 2013-2019 Michael "
    "Bostock); projected and simplified by outreach/charts/build_eu_map.py."
)

Point = tuple[float, float]


def decode_arcs(topology: dict[str, Any]) -> list[list[Point]]:
    """The arcs in longitude/latitude: TopoJSON stores them quantised and delta-encoded."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs: list[list[Point]], indexes: list[int]) -> list[Point]:
    """A closed ring from arc indexes (a negative index ~i is arc i reversed)."""
    points: list[Point] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def project(lon: float, lat: float) -> Point:
    """Lambert azimuthal equal-area, unit sphere; y grows northwards."""
    lam, phi = math.radians(lon) - LON0, math.radians(lat)
    k = math.sqrt(
        2 / (1 + math.sin(LAT0) * math.sin(phi) + math.cos(LAT0) * math.cos(phi) * math.cos(lam))
    )
    x = k * math.cos(phi) * math.sin(lam)
    y = k * (math.cos(LAT0) * math.sin(phi) - math.sin(LAT0) * math.cos(phi) * math.cos(lam))
    return x, y


def simplify(points: list[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker, iterative (long coastlines would recurse too deep)."""
    if len(points) < 4:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        length = math.hypot(bx - ax, by - ay)
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            if length:
                d = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            else:
                d = math.hypot(px - ax, py - ay)
            if d > worst:
                worst, index = d, i
        if worst > tolerance and index > 0:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def build(topology: dict[str, Any]) -> dict[str, Any]:
    arcs = decode_arcs(topology)
    rings: dict[str, list[list[Point]]] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = MEMBER_STATES.get(str(geometry.get("id")))
        if code is None:
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for indexes in polygon:
                lonlat = ring(arcs, indexes)
                lon = sum(p[0] for p in lonlat) / len(lonlat)
                lat = sum(p[1] for p in lonlat) / len(lonlat)
                if EUROPE[0] <= lon <= EUROPE[2] and EUROPE[1] <= lat <= EUROPE[3]:
                    rings.setdefault(code, []).append([project(*p) for p in lonlat])
    missing = set(MEMBER_STATES.values()) - set(rings)
    if missing:
        raise SystemExit(f"no shape found for {sorted(missing)}")
    xs = [x for rs in rings.values() for r in rs for x, _ in r]
    ys = [y for rs in rings.values() for r in rs for _, y in r]
    scale = WIDTH / (max(xs) - min(xs))
    height = math.ceil((max(ys) - min(ys)) * scale)
    paths: dict[str, str] = {}
    centres: dict[str, list[int]] = {}
    for code, country_rings in sorted(rings.items()):
        parts = []
        biggest: tuple[float, Point] = (-1.0, (0.0, 0.0))
        for r in country_rings:
            flat = [((x - min(xs)) * scale, (max(ys) - y) * scale) for x, y in r]
            simple = simplify(flat, TOLERANCE)
            rounded: list[tuple[int, int]] = []
            for x, y in simple:
                p = (round(x), round(y))
                if not rounded or p != rounded[-1]:
                    rounded.append(p)
            if len(rounded) < 3:  # an islet smaller than a unit: invisible anyway
                continue
            area = abs(
                sum(
                    x1 * y2 - x2 * y1
                    for (x1, y1), (x2, y2) in zip(rounded, rounded[1:] + rounded[:1], strict=True)
                )
            )
            if area > biggest[0]:
                cx = sum(x for x, _ in rounded) / len(rounded)
                cy = sum(y for _, y in rounded) / len(rounded)
                biggest = (area, (cx, cy))
            first, *rest = rounded
            parts.append(
                f"M{first[0]} {first[1]}"
                + "".join(
                    f"l{x - px} {y - py}" for (px, py), (x, y) in zip(rounded, rest, strict=False)
                )
                + "z"
            )
        paths[code] = "".join(parts)
        centres[code] = [round(biggest[1][0]), round(biggest[1][1])]
    return {
        "width": int(WIDTH),
        "height": height,
        "licence": LICENCE,
        "left_out": "the outermost regions (French Guiana, Guadeloupe, Martinique, Mayotte, "
        "Réunion, Saint-Martin, the Canary Islands, the Azores and Madeira)",
        "paths": paths,
        "centres": centres,
    }


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m outreach.charts.build_eu_map countries-50m.json")
    data = build(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    OUT.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, {len(data['paths'])} countries)")


if __name__ == "__main__":
    main(sys.argv[1:])
