"""Audience evaluation over 100,000 contacts on SQLite (issue 3: target under 200 ms).

The directory is the bundled 721 officials, copied until there are 100,000 contacts (with their
committee and delegation seats, about 590,000 rows), so the filters meet realistic data. The limit
measured in the same run is a scan that reads one column of every contact once
(`count(*) ... WHERE length(display_name) > 0`): a filter has to look at every contact at least that
much, so the ratio says how much the filter's joins and subqueries cost on top.

    .venv/bin/python bench/audience_bench.py [--contacts 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_app, median_seconds, report
from contacts.audience import Audience
from contacts.bundled import load_bundled
from contacts.models import Contact, Membership
from outreach.extensions import get_db

FILTERS = [
    "body:AFET,DROI or body:D-CN except group:ESN",
    "kind:mep and country:FR,DE,IT and lang:fr",
    "body:AFET/chair,AFET/vice_chair or tag:ally",
    "group:EPP,S&D not body:INTA",
]


def grow_directory(target: int) -> int:
    db = get_db()
    with db.transaction() as session:
        load_bundled(session)
    with db.transaction() as session:
        base = list(session.scalars(select(Contact)))
        seats = {c.id: [(m.acronym, m.body_kind, m.role) for m in c.memberships] for c in base}
        columns = [
            "kind",
            "honorific",
            "given_name",
            "family_name",
            "display_name",
            "gender",
            "country_code",
            "languages",
            "political_group",
            "political_group_short",
            "national_party",
            "email",
            "active",
            "do_not_contact",
            "needs_review",
            "email_status",
        ]
        made = len(base)
        copy = 0
        while made < target:
            copy += 1
            chunk = base[: min(len(base), target - made)]
            rows = []
            for c in chunk:
                row = {col: getattr(c, col) for col in columns}
                row["email"] = f"copy{copy}.{c.email}" if c.email else None
                row["offices"] = []
                row["salutation_overrides"] = {}
                row["address_line_overrides"] = {}
                rows.append(row)
            new_ids = list(session.scalars(insert(Contact).returning(Contact.id), rows))
            seat_rows = [
                {"contact_id": new_id, "acronym": a, "body_kind": k, "role": r}
                for new_id, c in zip(new_ids, chunk, strict=True)
                for a, k, r in seats[c.id]
            ]
            if seat_rows:
                session.execute(insert(Membership), seat_rows)
            made += len(chunk)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    app, folder = fresh_app()
    with app.app_context():
        start = time.perf_counter()
        total = grow_directory(args.contacts)
        print(
            f"directory: {total} contacts built in {time.perf_counter() - start:.1f} s ({folder})"
        )
        session = get_db().factory()
        scan = text("SELECT count(*) FROM contacts WHERE length(display_name) > 0")
        floor = median_seconds(lambda: session.execute(scan).scalar())
        report("scan of every contact (the limit)", floor, "s", 0.200, "target")
        for text_filter in FILTERS:
            audience = Audience(filter=text_filter)
            count = audience.count(session)
            seconds = median_seconds(lambda a=audience: a.count(session))
            print(f"  filter {text_filter!r}: {count} contacts")
            report("  count", seconds, "s", 0.200, "target")
            print(f"  {'':<42} ratio to the scan: {seconds / floor:6.1f}")
            excl = median_seconds(lambda a=audience: a.exclusions(session))
            report("  exclusions by reason", excl, "s", 0.200, "target")
        session.close()
        list_pages(app)


def list_pages(app: Flask) -> None:
    """The directory list as staff use it: first page, a deep page, a filter, a name search."""
    from outreach.accounts.services import create_user

    with get_db().transaction() as session:
        create_user(session, "bench@example.org", "bench password 123", "admin")
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    client.post("/login", data={"email": "bench@example.org", "password": "bench password 123"})
    for label, url in [
        ("first page", "/contacts"),
        ("page 1000", "/contacts?page=1000"),
        (
            "filter body:AFET,DROI except group:ESN",
            "/contacts?filter=body:AFET,DROI+except+group:ESN",
        ),
        ("name search 'jover'", "/contacts?q=jover"),
    ]:
        assert client.get(url).status_code == 200
        seconds = median_seconds(lambda u=url: client.get(u))
        report(f"directory list: {label}", seconds, "s", 0.200, "target")


if __name__ == "__main__":
    main()
