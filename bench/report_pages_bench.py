"""The pages that show where drives stand, with 100,000 deliveries in the database (issue 8:
"loads under 300 ms with 100,000 deliveries").

One drive of 100,000 letters in full flow (sent, replied, bounced, failed, uncertain, queued,
spread over ten hours, the last ten minutes' sends included), its officials in 27 countries, 8
groups and some committees, a reply message for each replied letter and 2,000 supporters'
signatures; plus a finished drive of 20,000 so that the queries have to pick their rows. Each
page is fetched through the app (Flask's test client, signed in) and timed as the median of a
few requests: the dashboard, its JSON, the drive's report, the delivery table (first page, a
page deep in the table, three filters) and the CSV export of the whole drive. The limit measured
in the same run is a request that does the least a page does: `/healthz` (one `SELECT 1` through
the same app and client). On PostgreSQL the tables are vacuumed and analysed after the bulk
load, as autovacuum would; SQLite runs without ANALYZE, as the embedded default does.

    .venv/bin/python bench/report_pages_bench.py [--deliveries 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import delete, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median_seconds, private_redis, report
from contacts.base import utcnow
from contacts.countries import EU_COUNTRIES
from contacts.models import Contact, Membership
from outreach import create_app
from outreach.accounts.services import create_user
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from outreach.reports import snapshots
from outreach.reports.snapshots import ReportSnapshot
from outreach.supporters.models import PrivacyNotice, Signature
from outreach.tracking.models import InboundMessage

STATES = [("sent", 0.45), ("replied", 0.08), ("bounced", 0.02), ("failed", 0.03),
          ("uncertain", 0.005), ("queued", 0.3), ("deferred", 0.1), ("held", 0.015)]  # fmt: skip
GROUPS = ["EPP", "S&D", "PfE", "ECR", "Renew", "Greens/EFA", "The Left", "NI"]
COMMITTEES = ["AFET", "DROI", "LIBE", "INTA", "DEVE"]
CHUNK = 20_000


def build(n: int, finished: int) -> int:
    """The drive in flight (its id) and a finished one, written with bulk inserts."""
    rng = random.Random(8)
    now = utcnow()
    start = now - timedelta(hours=10)
    countries = list(EU_COUNTRIES)
    db = get_db()
    with db.transaction() as session:
        for first in range(0, n, CHUNK):
            session.execute(
                insert(Contact),
                [
                    {"kind": "mep", "display_name": f"Member {i}", "given_name": "Member",
                     "family_name": f"{i:06d}", "email": f"m{i}@europarl.example.org",
                     "country_code": countries[i % 27], "political_group_short": GROUPS[i % 8],
                     "languages": ["en"], "salutation_overrides": {}, "address_line_overrides": {}}
                    for i in range(first, min(first + CHUNK, n))
                ],
            )  # fmt: skip
        contact_ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        session.execute(
            insert(Membership),
            [{"contact_id": c, "acronym": COMMITTEES[c % 5], "body_kind": "committee",
              "role": "member"} for c in contact_ids[::10]],
        )  # fmt: skip
        campaigns = []
        for name, status in (("In flight", "sending"), ("Done", "finished")):
            campaign = Campaign(name=name, status=status, subject_template="S", body_template="B",
                                audience={}, launched_at=start)  # fmt: skip
            session.add(campaign)
            session.flush()
            campaigns.append(campaign.id)
        names, weights = [s for s, _ in STATES], [w for _, w in STATES]
        rows = []
        for i, contact_id in enumerate(contact_ids):
            state = rng.choices(names, weights)[0]
            sent_at = updated = None
            if state in ("sent", "replied", "bounced"):
                # The last ten minutes' sends give the rate; the rest over the ten hours before.
                minutes = rng.uniform(0, 10) if rng.random() < 0.05 else rng.uniform(10, 600)
                sent_at = now - timedelta(minutes=minutes)
                updated = (
                    sent_at + timedelta(minutes=rng.uniform(1, 120)) if state != "sent" else sent_at
                )
            elif state in ("failed", "uncertain"):
                updated = start + timedelta(minutes=rng.uniform(0, 600))
            rows.append({"campaign_id": campaigns[0], "contact_id": contact_id, "state": state,
                         "email": f"m{i}@europarl.example.org", "sent_at": sent_at,
                         "created_at": start, "updated_at": min(updated or start, now)})  # fmt: skip
            if i < finished:
                rows.append({"campaign_id": campaigns[1], "contact_id": contact_id, "state": "sent",
                             "email": f"m{i}@europarl.example.org", "sent_at": start,
                             "created_at": start, "updated_at": start})  # fmt: skip
        for first in range(0, len(rows), CHUNK):
            session.execute(insert(Delivery), rows[first : first + CHUNK])
        replied = session.execute(
            select(Delivery.id, Delivery.updated_at).where(
                Delivery.campaign_id == campaigns[0], Delivery.state == "replied"
            )
        ).all()
        session.execute(
            insert(InboundMessage),
            [{"message_key": f"<r{d}@example.org>", "raw": b"x", "size": 1, "via": "dev",
              "received_at": at, "state": "processed", "kind": "reply", "delivery_id": d,
              "reply_text": "Thank you for your letter.", "envelope_to": []}
             for d, at in replied],
        )  # fmt: skip
        session.add(PrivacyNotice(sha256="0" * 64, text="Notice"))
        session.flush()
        session.execute(
            insert(Signature),
            [{"campaign_id": campaigns[0], "name": f"S {i}", "email": f"s{i}@example.net",
              "country": "FR", "consent": True, "privacy_notice_sha256": "0" * 64,
              "state": "confirmed" if i % 3 else "pending", "ip_hash": "x",
              "created_at": now - timedelta(hours=i % 240), "confirmed_at": now - timedelta(hours=i % 240)}
             for i in range(2000)],
        )  # fmt: skip
        create_user(session, "bench@example.org", "correct horse battery", "admin")
    return campaigns[0]


def _age_snapshot(app: Flask, key: str) -> None:
    """Make a page's stored figures a minute old, and forget any refresh queued for them."""
    with app.app_context(), get_db().transaction() as session:
        session.execute(
            update(ReportSnapshot)
            .where(ReportSnapshot.key == key)
            .values(computed_at=utcnow() - timedelta(minutes=1), refresh_queued_at=None)
        )


def _drop_snapshot(app: Flask, key: str) -> None:
    with app.app_context(), get_db().transaction() as session:
        session.execute(delete(ReportSnapshot).where(ReportSnapshot.key == key))


def _median_prepared(fn: Callable[[], None], prepare: Callable[[], None], repeat: int) -> float:
    """The median wall time of `fn`, `prepare` run (untimed) before each call and a warm-up."""
    times = []
    for i in range(repeat + 1):
        prepare()
        start = time.perf_counter()
        fn()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with private_redis(Path(tempfile.mkdtemp(prefix="outreach-bench-redis-"))) as redis_url:
        run(args, redis_url)


def run(args: argparse.Namespace, redis_url: str) -> None:
    """The pages timed; a private Redis takes the refresh jobs a stale page queues (and the rate
    limiter's counts), as in production; no worker runs."""
    folder = Path(tempfile.mkdtemp(prefix="outreach-bench-"))
    app = create_app(
        {"instance_path": str(folder), "redis_url": redis_url,
         "database_url": args.database_url or f"sqlite:///{folder / 'bench.db'}"}
    )  # fmt: skip
    with app.app_context():
        upgrade()
    app.config["WTF_CSRF_ENABLED"] = False  # the bench signs in without reading the form
    with app.app_context():
        drive = build(args.deliveries, args.deliveries // 5)
        engine = get_db().engine
        if engine.dialect.name == "postgresql":
            # What autovacuum does to a table of this size in production: statistics for the
            # planner and a visibility map, so that index-only scans stay index-only.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
    client = app.test_client()
    client.post("/login", data={"email": "bench@example.org", "password": "correct horse battery"})
    print(f"{args.deliveries:,} letters in flight, {args.deliveries // 5:,} finished ({folder})")

    def fetch(url: str) -> None:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        resp.get_data()
        resp.close()

    deep = args.deliveries // 2
    pages = [
        ("dashboard /", "/"),
        ("dashboard JSON", "/dashboard/drives.json"),
        ("drive report", f"/campaigns/{drive}/report"),
        ("delivery table, first page", f"/campaigns/{drive}/deliveries"),
        ("delivery table, a page deep", f"/campaigns/{drive}/deliveries?after={deep}"),
        ("delivery table, state=failed", f"/campaigns/{drive}/deliveries?state=failed"),
        ("delivery table, country+group", f"/campaigns/{drive}/deliveries?country=FR&group=EPP"),
        ("delivery table, committee", f"/campaigns/{drive}/deliveries?committee=AFET"),
    ]
    limit = median_seconds(lambda: fetch("/healthz"), repeat=args.repeat) * 1000
    report("/healthz (the limit)", limit, "ms", limit, "limit")
    for name, url in pages:
        figure = median_seconds(lambda url=url: fetch(url), repeat=args.repeat) * 1000
        report(name, figure, "ms", limit, "limit")
        print(f"{'':<44} {'under 300 ms' if figure < 300 else 'OVER 300 ms'}")
    # The stored figures (outreach.reports.snapshots) by the path a view takes: above, figures
    # younger than 30 s ("recent"); here older ones whose marker is read ("unchanged" for the
    # finished drive, "refreshing" for the one in flight: shown while a job is queued), and none
    # stored (computed in the request: the slow path, as every view was before).
    finished = drive + 1
    for name, url, key in (
        ("dashboard /", "/", snapshots.DASHBOARD),
        ("drive report, in flight", f"/campaigns/{drive}/report", snapshots.drive_key(drive)),
        ("drive report, finished", f"/campaigns/{finished}/report", snapshots.drive_key(finished)),
    ):
        for how, prepare in (
            ("stored, marker read", lambda key=key: _age_snapshot(app, key)),
            ("none stored: computed", lambda key=key: _drop_snapshot(app, key)),
        ):
            figure = _median_prepared(lambda url=url: fetch(url), prepare, args.repeat) * 1000
            report(f"{name}: {how}", figure, "ms", limit, "limit")
            print(f"{'':<44} {'under 300 ms' if figure < 300 else 'OVER 300 ms'}")
    export = median_seconds(lambda: fetch(f"/campaigns/{drive}/deliveries.csv"), repeat=3) * 1000
    report("deliveries.csv, whole drive (streamed)", export, "ms", limit, "limit")


if __name__ == "__main__":
    main()
