"""What the importers share: the progress callback, the EP's political groups, seats, clean text.

Nothing here touches the database: the parsers only turn files into records (contacts.records).
"""

from __future__ import annotations

from collections.abc import Callable

from contacts.bundled import parse_seats
from contacts.records import SeatRecord

# Called with (done, total) as a parser advances; `total` is None when it is not known in advance.
# The unit is the parser's: MEP elements (XML), files (API archives), lines (CSV) or rows (XLSX).
Progress = Callable[[int, int | None], None]

# The EP's names of the 10th-term political groups, exactly as the full-list XML writes them, and
# the acronyms the directory (and its audiences) use.
EP_GROUPS: dict[str, str] = {
    "Group of the European People's Party (Christian Democrats)": "EPP",
    "Group of the Progressive Alliance of Socialists and Democrats in the European Parliament": "S&D",
    "Patriots for Europe Group": "PfE",
    "European Conservatives and Reformists Group": "ECR",
    "Renew Europe Group": "Renew",
    "Group of the Greens/European Free Alliance": "Greens/EFA",
    "The Left group in the European Parliament - GUE/NGL": "The Left",
    "Europe of Sovereign Nations Group": "ESN",
    "Non-attached Members": "NI",
}
_GROUP_BY_SHORT = {short: name for name, short in EP_GROUPS.items()}
# Other ways people write the same groups in their own spreadsheets (compared case-insensitively).
_GROUP_ALIASES = {
    "epp": "EPP",
    "ppe": "EPP",
    "s&d": "S&D",
    "s and d": "S&D",
    "pfe": "PfE",
    "patriots": "PfE",
    "patriots for europe": "PfE",
    "ecr": "ECR",
    "renew": "Renew",
    "renew europe": "Renew",
    "greens/efa": "Greens/EFA",
    "verts/ale": "Greens/EFA",
    "greens": "Greens/EFA",
    "the left": "The Left",
    "left": "The Left",
    "gue/ngl": "The Left",
    "the left - gue/ngl": "The Left",
    "esn": "ESN",
    "europe of sovereign nations": "ESN",
    "ni": "NI",
    "non-attached": "NI",
    "non-inscrits": "NI",
}
_GROUP_LOOKUP = {
    **{name.casefold(): short for name, short in EP_GROUPS.items()},
    **_GROUP_ALIASES,
}


def political_group(value: str | None) -> tuple[str | None, str | None]:
    """``(full name, acronym)`` of an EP group given by either; an unknown group keeps its text."""
    if not value:
        return None, None
    short = _GROUP_LOOKUP.get(" ".join(value.split()).casefold())
    if short is None:
        return value, None
    return _GROUP_BY_SHORT[short], short


def seats(text: str | None, body_kind: str) -> list[SeatRecord]:
    """``"AFET:Member;DROI:Substitute"`` -> seat records, with the bundled loader's role rules."""
    return [
        SeatRecord(acronym=seat.acronym, body_kind=seat.body_kind, role=seat.role)
        for seat in parse_seats(text, body_kind)
    ]


def clean(value: object) -> str | None:
    """A cell's text without surrounding white space; None when there is none."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def one_line(value: str | None) -> str | None:
    """Names and titles: runs of white space (including line breaks) become one space."""
    if value is None:
        return None
    return " ".join(value.split()) or None
