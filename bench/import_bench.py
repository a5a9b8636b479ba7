"""Import of 100,000 CSV rows on SQLite (issue 3: target under 15 s), through the same code as
`flask contacts import FILE --apply`: parse, plan (the dry run), apply in one transaction, commit.

The limit measured in the same run is the least any import must do: read the same file with the
csv module and insert one row per line into the contacts table with one executemany, in one
transaction. The ratio says what parsing, validation, matching, the diff and the history cost on
top. The second import of the same file changes nothing and is timed too.

    .venv/bin/python bench/import_bench.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

from bench.common import fresh_app, report
from contacts.importers import parse_file
from contacts.importing import apply_plan, plan_import
from contacts.models import Contact
from outreach.extensions import get_db

COUNTRIES = ["DE", "FR", "Italy", "ES", "PL", "BE", "NL", "SE"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            ["First name", "Last name", "E-mail", "Country", "Organisation", "Position", "Tags"]
        )
        for i in range(rows):
            out.writerow(
                [f"Given{i}", f"Family{i}", f"given{i}.family{i}@example{i % 50}.org",
                 COUNTRIES[i % len(COUNTRIES)], f"Org {i % 500}", "Officer", "bench"]
            )  # fmt: skip


def bare_insert(path: Path) -> float:
    """csv.reader + one executemany into contacts, one transaction: the floor."""
    app, _folder = fresh_app()
    with app.app_context():
        db = get_db()
        start = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows = [
                {"display_name": f"{r[0]} {r[1]}", "given_name": r[0], "family_name": r[1],
                 "email": r[2], "country_code": r[3][:2].upper(), "organisation": r[4],
                 "position": r[5], "languages": [], "offices": [], "salutation_overrides": {},
                 "address_line_overrides": {}, "kind": "other"}
                for r in reader
            ]  # fmt: skip
        with db.transaction() as session:
            session.execute(insert(Contact), rows)
        return time.perf_counter() - start


def outreach_import(path: Path) -> tuple[float, float, int]:
    app, _folder = fresh_app()
    timings = []
    with app.app_context():
        db = get_db()
        for _ in range(2):
            start = time.perf_counter()
            with db.transaction() as session:
                parsed = parse_file(path)
                plan = plan_import(session, parsed)
                apply_plan(session, plan, actor="bench")
            timings.append(time.perf_counter() - start)
        with db.transaction() as session:
            count = session.scalar(select(func.count(Contact.id))) or 0
    return timings[0], timings[1], count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(fresh_app()[1])
    path = folder / "people.csv"
    write_csv(path, args.rows)
    floor = bare_insert(path)
    first, second, count = outreach_import(path)
    assert count == args.rows, f"imported {count} of {args.rows} rows"
    print(f"{args.rows} rows, {path.stat().st_size / 1e6:.1f} MB")
    report("bare csv.reader + executemany (the limit)", floor, "s", 15.0, "target")
    report("import, first time (all new)", first, "s", 15.0, "target")
    print(
        f"{'':<44} {args.rows / first:,.0f} rows/s; ratio to the bare insert: {first / floor:.1f}"
    )
    report("import, same file again (unchanged)", second, "s", 15.0, "target")
    print(
        f"{'':<44} {args.rows / second:,.0f} rows/s; ratio to the bare insert: {second / floor:.1f}"
    )


if __name__ == "__main__":
    main()
