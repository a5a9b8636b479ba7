"""Peak memory of the web and worker processes at 10,000 and 100,000 deliveries (issue 10:
"worker and web peak RSS at 10,000 and 100,000 deliveries, flat").

Web: for each size, a fresh database is seeded as bench/admin_pages_bench.py seeds it (the
bundled directory plus 20,000 synthetic MEPs, five finished drives sharing the deliveries, their
events, inbound replies and bounces, a draft, a public page with 10,000 signatures), the app is
served by `gunicorn --workers 2` on loopback, and one signed-in client requests every GET page of
the URL map (the accessibility test's list, as admin_pages_bench) once to warm up and then
`--requests` more times. After every request the peak resident set (VmHWM, /proc) of both
gunicorn workers is read, so the page that raised a worker's peak is known; printed: each
worker's RSS after boot, after the warm-up round and at the end (VmRSS: growing from round to
round would be a leak) and its peak over the pages, and the pages that raised the peak most.
Signing in (argon2: 64 MiB by design) is measured apart: each worker's peak is reset after it
(Linux's /proc/<pid>/clear_refs).

Worker (--worker-letters): bench/send_bench.py's run (real `dramatiq workers:setup`, 2
processes of 4 threads, the smtp sink, a private Redis) for each number of letters, with each
worker process's RSS after boot and its peak.

The ratio printed for each size is its peak over the peak at the smallest size (flat: 1.0).

    .venv/bin/python bench/memory_bench.py [--deliveries 10000,100000] [--requests 5]
        [--worker-letters 10000,100000] [--database-url postgresql+psycopg://…/bench_memory]
        [--smtp-sink build/postfix/smtp-sink]
    .venv/bin/python bench/memory_bench.py --deliveries 100000 --trace 10

SQLite by default; --database-url names a PostgreSQL database to create and drop for each size
(never `test`). Everything runs on loopback and is stopped by pid.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.common
from bench.admin_pages_bench import SECRET, seed, sign_in, urls
from bench.common import (
    analyse,
    exit_cleanly_on_signals,
    gunicorn_server,
    private_redis,
    proc_status_kib,
    report,
    scratch_postgres,
    served_app,
    smtp_sink,
)

MIB = 1024


@dataclass
class WebMemory:
    size: int
    pages: int
    boot: list[int] = field(default_factory=list)  # KiB, each gunicorn worker
    sign_in_peak: list[int] = field(default_factory=list)
    warm: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    peak: list[int] = field(default_factory=list)
    raised: Counter[str] = field(default_factory=Counter)  # KiB of peak each page added
    rounds: list[int] = field(default_factory=list)  # KiB, both workers' RSS after each round
    seconds: float = 0.0


def serve_and_measure(database_url: str, folder: Path, size: int, requests: int) -> WebMemory:
    from outreach.extensions import get_db

    folder.mkdir(parents=True, exist_ok=True)
    with private_redis(folder) as redis_url:
        app, env = served_app(
            folder, database_url, redis_url, SECRET,
            OUTREACH_SMTP_URL="smtp://127.0.0.1:1",  # never used: no page sends mail
        )  # fmt: skip
        with app.app_context():
            ids = seed(app, size)
            pages = urls(app, ids)
            analyse(get_db())
            get_db().dispose()
        result = WebMemory(size, len(pages))
        with gunicorn_server("outreach:create_app()", env, folder) as server:
            workers = server.workers()
            result.boot = [proc_status_kib(pid, "VmRSS") for pid in workers]
            client = sign_in(server.port)
            # Signing in hashes the password with argon2 (64 MiB of memory by design, whatever
            # the database holds): its peak is printed apart, then each worker's peak is reset
            # to its current RSS (Linux: "5" into /proc/<pid>/clear_refs) so that the peak
            # below is the pages'.
            result.sign_in_peak = [proc_status_kib(pid, "VmHWM") for pid in workers]
            for pid in workers:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            start = time.perf_counter()
            for round_ in range(requests + 1):
                for endpoint, url in pages:
                    before = sum(proc_status_kib(pid, "VmHWM") for pid in workers)
                    status, _ = client.request("GET", url)
                    if status != 200:
                        raise SystemExit(f"{endpoint} {url} answered {status}")
                    after = sum(proc_status_kib(pid, "VmHWM") for pid in workers)
                    if after > before:
                        result.raised[f"{endpoint} {url}"] += after - before
                if round_ == 0:
                    result.warm = [proc_status_kib(pid, "VmRSS") for pid in workers]
                result.rounds.append(sum(proc_status_kib(pid, "VmRSS") for pid in workers))
            result.seconds = time.perf_counter() - start
            result.end = [proc_status_kib(pid, "VmRSS") for pid in workers]
            result.peak = [proc_status_kib(pid, "VmHWM") for pid in workers]
            client.conn.close()
    return result


def web(sizes: list[int], requests: int, postgresql_url: str | None) -> list[WebMemory]:
    results = []
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"outreach-memory-{size}-"))
        if postgresql_url:
            with scratch_postgres(postgresql_url) as url:
                results.append(serve_and_measure(url, folder, size, requests))
        else:
            url = f"sqlite:///{folder / 'memory.db'}"
            results.append(serve_and_measure(url, folder, size, requests))
        print_web(results[-1], requests)
    return results


def trace(size: int, rounds: int) -> None:
    """Where a web process's memory grows from round to round: the app in this process (Flask's
    test client, signed in) on a fresh SQLite database of `size` deliveries, every page once,
    then tracemalloc's snapshot after one more round and after `rounds` more; the lines whose
    allocations grew most between the two."""
    import re
    import tracemalloc

    from flask_migrate import upgrade

    from bench.admin_pages_bench import ADMIN
    from outreach import create_app

    folder = Path(tempfile.mkdtemp(prefix=f"outreach-memory-trace-{size}-"))
    with private_redis(folder) as redis_url:
        app = create_app(
            {"instance_path": str(folder / "instance"), "secret_key": SECRET,
             "database_url": f"sqlite:///{folder / 'trace.db'}", "redis_url": redis_url}
        )  # fmt: skip
        with app.app_context():
            upgrade()
            ids = seed(app, size)
            pages = urls(app, ids)
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token
        form = {"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token.group(1)}
        assert client.post("/login", data=form).status_code == 302

        def one_round() -> None:
            for endpoint, url in pages:
                status = client.get(url).status_code
                if status != 200:
                    raise SystemExit(f"{endpoint} {url} answered {status}")

        one_round()
        tracemalloc.start(10)
        one_round()
        first = tracemalloc.take_snapshot()
        for _ in range(rounds):
            one_round()
        last = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(
        f"\ntracemalloc, {size:,} deliveries, {len(pages)} pages: traced {current / 2**20:.1f} MiB "
        f"after {rounds + 1} rounds (peak {peak / 2**20:.1f} MiB); grew most over the last "
        f"{rounds} rounds:"
    )
    for stat in last.compare_to(first, "lineno")[:12]:
        print(f"  {stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+7d} blocks  {stat.traceback}")


def _mib(values: list[int]) -> str:
    return ", ".join(f"{v / MIB:.0f}" for v in values)


def print_web(r: WebMemory, requests: int) -> None:
    print(
        f"\nweb, {r.size:,} deliveries: {r.pages} pages x {requests + 1} rounds in "
        f"{r.seconds:.0f} s (load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"  gunicorn workers' RSS MiB: after boot {_mib(r.boot)}; peak while signing in "
        f"{_mib(r.sign_in_peak)}\n  after the warm-up round {_mib(r.warm)}; at the end "
        f"{_mib(r.end)}; peak over the pages (VmHWM) {_mib(r.peak)}"
    )
    print(f"  both workers' RSS after each round, MiB: {_mib(r.rounds)}")
    print("  pages that raised a worker's peak most (MiB, over all rounds):")
    for page, kib in r.raised.most_common(6):
        print(f"    {kib / MIB:6.1f}  {page[:90]}")


def worker(letters: list[int], postgresql_url: str | None) -> list[tuple[int, list[int]]]:
    from bench.send_bench import engine_run

    results = []
    folder = Path(tempfile.mkdtemp(prefix="outreach-memory-worker-"))
    with private_redis(folder) as redis_url, smtp_sink(folder) as sink:
        for n in letters:
            run = engine_run(n, 2, 4, sink, redis_url, postgresql_url)
            print(
                f"\nworker, {n:,} letters: {n / run.total:.0f} msg/s, {dict(run.states)}; "
                f"RSS MiB after boot {_mib(run.boot_rss_kib)}, peak (VmHWM) "
                f"{_mib(run.peak_rss_kib)} (load {run.load[0]:.1f} → {run.load[1]:.1f})",
                flush=True,
            )
            results.append((n, run.peak_rss_kib))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--requests", type=int, default=5, help="rounds after the warm-up")
    parser.add_argument(
        "--worker-letters", default="", help="comma-separated, e.g. 10000,100000 (default: none)"
    )
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--trace",
        type=int,
        default=0,
        help="instead: the app in this process with tracemalloc, this many rounds at the "
        "largest --deliveries size, and the lines whose memory grew most",
    )
    parser.add_argument("--smtp-sink", type=Path, default=bench.common.SMTP_SINK)
    args = parser.parse_args()
    exit_cleanly_on_signals()
    bench.common.SMTP_SINK = args.smtp_sink.resolve()
    postgresql_url = args.database_url or None
    sizes = [int(s) for s in args.deliveries.split(",") if s]
    letters = [int(s) for s in args.worker_letters.split(",") if s]
    backend = "PostgreSQL" if postgresql_url else "SQLite"
    if args.trace:
        trace(max(sizes), args.trace)
        return
    print(f"{os.cpu_count()} cores, {backend}, gunicorn --workers 2, one client", flush=True)

    webs = web(sizes, args.requests, postgresql_url)
    workers = worker(letters, postgresql_url) if letters else []

    print()
    if webs:
        base = max(webs[0].peak)
        for r in webs:
            report(
                f"web peak RSS, {r.size:,} deliveries", max(r.peak) / MIB, "MiB",
                base / MIB, f"at {webs[0].size:,}",
            )  # fmt: skip
    if workers:
        first = max(workers[0][1])
        for n, peak in workers:
            report(
                f"worker peak RSS, {n:,} letters", max(peak) / MIB, "MiB",
                first / MIB, f"at {workers[0][0]:,}",
            )  # fmt: skip


if __name__ == "__main__":
    main()
