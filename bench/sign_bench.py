"""Public signing through gunicorn: signatures per second with every protection on, against a
minimal Flask endpoint that inserts one row, on the same stack, in the same run (issue 6).

For each backend (SQLite file, and a scratch PostgreSQL database `bench_sign` that the benchmark
creates and drops), with a private Redis:

1. the minimal endpoint (`baseline_app` below: read two form fields, insert one row, commit,
   answer 200) under gunicorn;
2. the real app under gunicorn with the same settings, POSTing the public form of a campaign:
   the body limit, both rate limits counted in Redis (per IP and per address), the form's
   signed token (CSRF without a cookie, and the fill time, set to 0 s), email-validator, the
   burst rule, the notice and the signature inserted, the confirmation outbox kicked, and the
   thank-you page (the whole campaign page with its letter).

Supporters come from many addresses, as behind the production proxy: the app trusts one proxy
hop (OUTREACH_PROXY_HOPS=1) and each post carries its own X-Forwarded-For, so the rate limits
and the burst rule keep their production settings (30/hour;10/minute per IP, 5/hour per
address, 10 per 10 minutes from one source) and count every post. `--one-source` instead posts
everything from 127.0.0.1 with the limits and the burst threshold raised out of the way (the
first version of this benchmark; the burst rule then counts up to all of the run's signatures
from that one source for each new one).

Both servers run `gunicorn --workers 2` (sync workers: 2 cores) on loopback, loaded by CLIENTS
threads of this process, each with one keep-alive connection; each thread fetches the page once
for its form token and then posts new addresses. Figures: requests per second, p50 and p99
latency, and the rows counted in the database afterwards (none may be lost: every 200 is a row).

    .venv/bin/python bench/sign_bench.py [--requests 2000] [--rounds 4] [--one-source]
        [--backends sqlite,postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_sign]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, func
from sqlalchemy import insert as sa_insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    exit_cleanly_on_signals,
    gunicorn,
    private_redis,
    report,
    scratch_postgres,
    served_app,
)

CLIENTS = 4
WARM_UP = 40
SLUG = "bench-sign"
SECRET = secrets.token_hex(16)  # the form tokens of one run
TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# One client address per post (198.18.0.0/15, the benchmarking range), unique in the run.
_SOURCES = itertools.count(1)

_rows = MetaData()
BENCH_ROWS = Table(
    "bench_rows",
    _rows,
    Column("id", Integer, primary_key=True),
    Column("name", String(200)),
    Column("email", String(320)),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)


def baseline_app() -> Flask:
    """The limit: the least a signing endpoint does on this stack (gunicorn imports this)."""
    from outreach.db import make_engine

    app = Flask("sign-baseline")
    # The app's own engine set-up (SQLite's pragmas, PostgreSQL's pool and pre-ping): the same
    # stack, so neither side gains from a different commit or connection policy.
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])

    @app.post("/insert")
    def insert_one() -> tuple[str, int]:
        with engine.begin() as conn:
            conn.execute(
                sa_insert(BENCH_ROWS),
                {"name": request.form.get("name", ""), "email": request.form.get("email", "")},
            )
        return "ok", 200

    return app


@dataclass
class Run:
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def merge(self, other: Run) -> None:
        self.ok += other.ok
        for status, n in other.errors.items():
            self.errors[status] = self.errors.get(status, 0) + n
        self.latencies += other.latencies
        self.seconds += other.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


def _source() -> str:
    n = next(_SOURCES)
    return f"198.{18 + (n >> 16) % 2}.{(n >> 8) % 256}.{n % 256}"


def load(port: int, path: str, bodies: list[str], token_path: str | None) -> Run:
    """POST every body over CLIENTS keep-alive connections, each with its own X-Forwarded-For;
    the latencies of the 200s."""
    run = Run()
    lock = threading.Lock()
    chunks = [bodies[i::CLIENTS] for i in range(CLIENTS)]

    def client(mine: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        token = ""
        if token_path:
            conn.request("GET", token_path)
            page = conn.getresponse().read().decode()
            match = TOKEN_RE.search(page)
            assert match, "no form token on the page"
            token = match.group(1)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for body in mine:
            data = body.replace("TOKEN", token)
            headers["X-Forwarded-For"] = _source()
            start = time.perf_counter()
            conn.request("POST", path, body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            with lock:
                if response.status == 200:
                    run.ok += 1
                    run.latencies.append(elapsed)
                else:
                    run.errors[response.status] = run.errors.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.seconds = time.perf_counter() - start
    return run


def bodies(prefix: str, count: int) -> list[str]:
    return [
        urlencode(
            {"csrf_token": "TOKEN", "name": f"Supporter {prefix} {i}",
             "email": f"{prefix}.{i}@example.org", "country": "BE", "consent": "y", "named": "y"}
        )
        for i in range(count)
    ]  # fmt: skip


def prepare(
    database_url: str, redis_url: str, folder: Path, *, one_source: bool = False
) -> dict[str, str]:
    """Migrate, make a campaign with an open public page and the baseline's table; the env."""
    # Every protection on, at its production setting; each post from its own address.
    more = {"OUTREACH_PROXY_HOPS": "1", "OUTREACH_SIGN_MIN_SECONDS": "0"}
    if one_source:
        # Everything from 127.0.0.1: the limits raised so that one client is not throttled.
        more.update(
            OUTREACH_PROXY_HOPS="0",
            OUTREACH_SIGN_RATE_PER_IP="1000000/minute",
            OUTREACH_SIGN_RATE_PER_ADDRESS="100/hour",
            OUTREACH_SIGN_BURST="1000000/10",
        )
    from outreach.campaigns import services
    from outreach.extensions import get_db

    app, env = served_app(
        folder, database_url, redis_url, SECRET, BENCH_DATABASE_URL=database_url, **more
    )
    with app.app_context():
        with get_db().transaction() as session:
            campaign = services.create_campaign(
                session, name="Free the fishermen", subject="Release the twelve fishermen",
                body="{{ salutation }}\n\nWe ask you to act **now**.\n\n{{ cosigners.count }} co-sign.",
                audience={}, signatories=[{"name": "Coast Rights", "url": "https://coast.example.org"}],
            )  # fmt: skip
            campaign.slug, campaign.signing_open, campaign.signature_goal = SLUG, True, 10_000
            campaign.cosigner_display = "both"
        get_db().dispose()
    engine = create_engine(database_url)
    _rows.create_all(engine)
    engine.dispose()
    return env


def count(database_url: str, table: str) -> int:
    from sqlalchemy import text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        n = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)  # noqa: S608
    engine.dispose()
    return n


def bench_backend(
    label: str, database_url: str, requests: int, rounds: int, folder: Path, one_source: bool
) -> bool:
    """Both servers up at once, loaded in turns (insert, signing, insert, …): load from other
    work on the machine then falls on both sides alike, and the ratio is the median of the
    rounds'. An idle gunicorn takes no CPU from the other."""
    per_round = max(1, requests // rounds)
    base, sign = Run(), Run()
    ratios: list[float] = []
    with private_redis(folder) as redis_url:
        env = prepare(database_url, redis_url, folder, one_source=one_source)
        with (
            gunicorn("sign_bench:baseline_app()", env, folder) as base_port,
            gunicorn("outreach:create_app()", env, folder) as sign_port,
        ):
            load(base_port, "/insert", bodies("warm", WARM_UP), None)
            load(sign_port, f"/c/{SLUG}", bodies("warmsign", WARM_UP), f"/c/{SLUG}")
            for r in range(rounds):
                b = load(base_port, "/insert", bodies(f"base{r}", per_round), None)
                s = load(sign_port, f"/c/{SLUG}", bodies(f"sign{r}", per_round), f"/c/{SLUG}")
                print(f"{label}: round {r + 1}: insert {b.rate:.0f}/s, signing {s.rate:.0f}/s")
                ratios.append(s.rate / b.rate if b.rate else 0.0)
                base.merge(b)
                sign.merge(s)
    base_rows = count(database_url, "bench_rows") - WARM_UP
    sign_rows = count(database_url, "signatures") - WARM_UP
    print(
        f"{label}: baseline {base.ok} ok {base.errors or ''} in {base.seconds:.1f} s, p50 "
        f"{base.percentile(0.5):.1f} ms, p99 {base.percentile(0.99):.1f} ms, rows {base_rows}"
    )
    print(
        f"{label}: signing  {sign.ok} ok {sign.errors or ''} in {sign.seconds:.1f} s, p50 "
        f"{sign.percentile(0.5):.1f} ms, p99 {sign.percentile(0.99):.1f} ms, rows {sign_rows}"
    )
    report(f"signing, {label}, all rounds", sign.rate, "req/s", base.rate, "one-row insert")
    median = statistics.median(ratios)
    print(f"signing, {label}: median ratio of {rounds} rounds {median:.2f} (target >= 0.5)")
    report(
        f"signing p99, {label}", sign.percentile(0.99), "ms", base.percentile(0.99), "insert p99"
    )
    lost = (base.ok - base_rows) + (sign.ok - sign_rows)
    print(f"{label}: lost rows {lost} (every 200 must be a row)")
    return lost == 0 and not base.errors and not sign.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4, help="turns of each side (median)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--one-source",
        action="store_true",
        help="post everything from 127.0.0.1 with the limits raised (the first version)",
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_sign"
    )
    args = parser.parse_args()
    exit_cleanly_on_signals()
    folder = Path(tempfile.mkdtemp(prefix="outreach-bench-sign-"))
    sources = "one source (limits raised)" if args.one_source else "a client address per post"
    print(
        f"{os.cpu_count()} cores, {CLIENTS} client threads, gunicorn --workers 2, {sources}; "
        f"in {folder}"
    )
    good = True
    for backend in args.backends.split(","):
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'sign.db'}"
            good &= bench_backend(
                "sqlite", url, args.requests, args.rounds, folder, args.one_source
            )
        elif backend == "postgresql":
            with scratch_postgres(args.postgres_url) as url:
                good &= bench_backend(
                    "postgresql", url, args.requests, args.rounds, folder, args.one_source
                )
        else:
            parser.error(f"unknown backend {backend!r}")
    if not good:
        sys.exit(1)


if __name__ == "__main__":
    main()
