"""Reading a drive's progress while 100,000 deliveries are in flight (issue 5: "cheap to read").

A campaign with 100,000 deliveries spread over the states of a drive in full flow (sent, queued,
sending, deferred, a few failed and uncertain; 2,000 sent in the last ten minutes), plus a second
finished campaign of 100,000 so that the indexes have to pick the right rows. Timed, as the median
of 15 calls: `outreach.campaigns.control.progress` (the counts per state, the rate and the
estimated finish that the campaign page and its live line show). The limit measured in the same
run is the least any progress reading must do: `SELECT count(*) FROM deliveries WHERE
campaign_id = ?` over the same index.

    .venv/bin/python bench/progress_bench.py [--deliveries 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_app, median_seconds, report
from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns import control
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db

STATES = [("sent", 0.55), ("queued", 0.3), ("sending", 0.01), ("deferred", 0.1),
          ("failed", 0.03), ("uncertain", 0.01)]  # fmt: skip


def build(n: int) -> tuple[int, int]:
    """Two campaigns of `n` deliveries each (one in flight, one finished); their ids."""
    rng = random.Random(5)
    now = utcnow()
    db = get_db()
    with db.transaction() as session:
        session.execute(
            insert(Contact),
            [
                {"kind": "mep", "display_name": f"Member {i}", "email": f"m{i}@example.org",
                 "languages": [], "salutation_overrides": {}, "address_line_overrides": {}}
                for i in range(n)
            ],
        )  # fmt: skip
        contact_ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        campaigns = []
        for name, status in (("In flight", "sending"), ("Done", "finished")):
            campaign = Campaign(
                name=name, status=status, subject_template="S", body_template="B", audience={}
            )
            session.add(campaign)
            session.flush()
            campaigns.append(campaign.id)
        names = [s for s, _ in STATES]
        weights = [w for _, w in STATES]
        rows = []
        recent = 0
        for i, contact_id in enumerate(contact_ids):
            state = rng.choices(names, weights)[0]
            sent_at = None
            if state == "sent":
                recent += 1
                # 2,000 in the last ten minutes, the rest over the hours before.
                minutes = rng.uniform(0, 10) if recent <= 2000 else rng.uniform(10, 600)
                sent_at = now - timedelta(minutes=minutes)
            rows.append({"campaign_id": campaigns[0], "contact_id": contact_id,
                         "email": f"m{i}@example.org", "state": state, "sent_at": sent_at})  # fmt: skip
            rows.append({"campaign_id": campaigns[1], "contact_id": contact_id,
                         "email": f"m{i}@example.org", "state": "sent",
                         "sent_at": now - timedelta(days=1)})  # fmt: skip
        for start in range(0, len(rows), 20_000):
            session.execute(insert(Delivery), rows[start : start + 20_000])
    return campaigns[0], campaigns[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    app, folder = fresh_app(args.database_url)
    with app.app_context():
        in_flight, _ = build(args.deliveries)
        session = get_db().session
        session.commit()
        p = control.progress(session, in_flight)
        print(f"{p.total} deliveries in flight ({p.counts}); {p.sent_recently} sent in 10 min,")
        print(f"{p.per_minute:.0f} a minute, finish at {p.finish_at} ({folder})")
        limit = median_seconds(
            lambda: session.scalar(select(func.count()).where(Delivery.campaign_id == in_flight)),
            repeat=15,
        )
        figure = median_seconds(lambda: control.progress(session, in_flight), repeat=15)
        report("count(*) of the campaign (the limit)", limit * 1000, "ms", limit * 1000, "limit")
        report("control.progress", figure * 1000, "ms", limit * 1000, "limit")


if __name__ == "__main__":
    main()
