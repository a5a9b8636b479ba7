"""How sending throughput grows with worker processes on ONE PostgreSQL, and what limits it
(issue 10, "scale beyond one machine").

For each count of worker processes (default 1, 2, 4, 6; 4 threads each) the sending benchmark's
run is repeated as is (bench/send_bench.py's `engine_run`: a fresh scratch database, N synthetic
MEPs, the reference letter, real `dramatiq workers:setup` processes, a private Redis, Postfix's
smtp-sink, pacing set out of the way), and while the letters go out every component is sampled:

* CPU time (from /proc, by pid) of the worker processes, of the PostgreSQL backends serving the
  benchmark's database (their pids from `pg_stat_activity`; a backend seen first during the run
  counts from zero), of PostgreSQL's shared processes (WAL writer, checkpointer, background
  writer, autovacuum: server-wide, so other databases' work is in it too), of redis-server (its
  own `INFO cpu`), of the SMTP sink, and of this benchmark (its poll and this sampling, with its
  own backend); the machine's busy time (/proc/stat) and what is left over: other work;
* what the database's backends were doing, every 0.2 s: running a statement, waiting for a lock
  (`wait_event_type` Lock: one transaction waiting for another's row or table), an LWLock, I/O (the
  WAL flush of a commit), or idle in a transaction (waiting for the worker: its Python, Redis or
  SMTP); and the most connections the database had at once;
* per letter: transactions committed (`pg_stat_database`), Redis commands (`INFO commandstats`;
  the commands a Lua script runs count too), and the waits for a full relay: every try for a
  relay place runs one ZREMRANGEBYSCORE and every place taken is given back with one ZREM, so
  tries beyond the places are pacing waits (the domain slots cannot wait here: the rate is set
  out of the way, as in send_bench).

The figure is letters a second (from the launch to the last `sent_at`, as in send_bench) and its
ratio to the 1-process run of the same round. The process counts run in rounds, ascending then
descending (`--rounds 2`: 1, 2, 4, 6, then 6, 4, 2, 1), so that a change of the machine's load
from other work falls on every count alike; each run prints the 1-minute load before and after.

    .venv/bin/python bench/scale_bench.py [--messages 5000] [--processes 1,2,4,6] [--rounds 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_scale]
        [--relay-concurrency N]  # the production setting instead of processes x threads
        [--relay-delay SECONDS --batch 10]  # a slow relay: the relay's places set the pace
        [--smtp-sink build/postfix/smtp-sink]

The database named by --database-url is created and dropped by each run (never `test`).
Everything runs on loopback and is stopped by pid.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.common
from bench.common import (
    Sink,
    exit_cleanly_on_signals,
    private_redis,
    proc_cpu_seconds,
    report,
    smtp_sink,
)
from bench.send_bench import EngineRun, engine_run, machine

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_scale"
SAMPLE_SECONDS = 0.2
# The PostgreSQL processes every database shares (pg_stat_activity.backend_type).
SHARED_BACKENDS = (
    "walwriter",
    "checkpointer",
    "background writer",
    "autovacuum launcher",
    "autovacuum worker",
)
COMPONENTS = (
    "workers",
    "postgres backends",
    "postgres shared",
    "redis-server",
    "smtp sink",
    "launch, poll, sampling",
)


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent not idle so far (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_kind(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    """One backend sample: what a backend of the benchmark's database was doing."""
    if state == "active":
        if wait_type is None:
            return "running a statement"
        if wait_type == "Lock":
            return f"lock wait ({wait_event})"
        return f"{wait_type} ({wait_event})"
    if state in ("idle in transaction", "idle in transaction (aborted)"):
        return "idle in transaction (the worker's turn)"
    return "idle"


@dataclass
class Sample:
    """What the sampler measured over one run (CPU in seconds)."""

    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    backend_samples: Counter[str] = field(default_factory=Counter)
    max_connections: int = 0
    commits: int = 0
    rollbacks: int = 0
    redis_calls: Counter[str] = field(default_factory=Counter)
    switches: tuple[int, int] = (0, 0)  # the workers' voluntary, involuntary context switches


class Sampler:
    """Samples, in a thread, the CPU of each component of a run and what the database's backends
    are doing; see the module's docstring."""

    def __init__(self, worker_pids: list[int], database_url: str, redis_url: str, sink: Sink):
        self.worker_pids = worker_pids
        parsed = make_url(database_url)
        self.datname = parsed.database
        self.dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.redis = redis.Redis.from_url(redis_url)
        self.sink_pid = sink.pid
        self.sample = Sample()
        self._stop = threading.Event()
        self._backends: dict[int, tuple[float, float]] = {}  # pid: (CPU at start, last seen)
        self._shared: dict[int, tuple[float, float]] = {}

    # --- the parts read at the start and at the end -----------------------------------------
    def _redis_cpu(self) -> float:
        info = self.redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def _redis_calls(self) -> Counter[str]:
        stats = self.redis.info("commandstats")
        return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})

    def _db_counters(self, conn: psycopg.Connection[Any]) -> tuple[int, int]:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s",
            (self.datname,),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def _switches(self) -> tuple[int, int]:
        voluntary = involuntary = 0
        for pid in self.worker_pids:
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):
                    for line in (task / "status").read_text().splitlines():
                        if line.startswith("voluntary_ctxt_switches:"):
                            voluntary += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            involuntary += int(line.split()[1])
        return voluntary, involuntary

    def _points(self) -> dict[str, float]:
        return {
            "workers": sum(proc_cpu_seconds(pid) for pid in self.worker_pids),
            "redis-server": self._redis_cpu(),
            "smtp sink": proc_cpu_seconds(self.sink_pid) if self.sink_pid else 0.0,
            "launch, poll, sampling": time.process_time(),
            "machine": machine_busy_seconds(),
        }

    # --- the thread -------------------------------------------------------------------------
    def _watch(self, conn: psycopg.Connection[Any], first: bool) -> None:
        rows = conn.execute(
            "SELECT pid, datname, backend_type, state, wait_event_type, wait_event "
            "FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        ).fetchall()
        ours = 0
        for pid, datname, backend_type, state, wait_type, wait_event in rows:
            if datname == self.datname and backend_type == "client backend":
                seen = self._backends
                ours += 1
                self.sample.backend_samples[wait_kind(state, wait_type, wait_event)] += 1
            elif backend_type in SHARED_BACKENDS:
                seen = self._shared
            else:
                continue
            now = proc_cpu_seconds(pid)
            start = seen[pid][0] if pid in seen else (now if first else 0.0)
            seen[pid] = (start, now)
        self.sample.max_connections = max(self.sample.max_connections, ours)

    def _run(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._watch(conn, first=False)

    @contextlib.contextmanager
    def running(self) -> Iterator[Sample]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            own_backend = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
            own_start = proc_cpu_seconds(own_backend)
            commits, rollbacks = self._db_counters(conn)
            calls = self._redis_calls()
            self._watch(conn, first=True)
            switches = self._switches()
            start, clock = self._points(), time.perf_counter()
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            thread.start()
            try:
                yield self.sample
            finally:
                self._stop.set()
                thread.join()
                self._watch(conn, first=False)
                end = self._points()
                after = self._switches()
                self.sample.switches = (after[0] - switches[0], after[1] - switches[1])
                s = self.sample
                s.wall = time.perf_counter() - clock
                s.cpu = {k: end[k] - start[k] for k in start if k != "machine"}
                s.cpu["launch, poll, sampling"] += proc_cpu_seconds(own_backend) - own_start
                s.cpu["postgres backends"] = sum(b - a for a, b in self._backends.values())
                s.cpu["postgres shared"] = sum(b - a for a, b in self._shared.values())
                s.machine_busy = end["machine"] - start["machine"]
                end_commits, end_rollbacks = self._db_counters(conn)
                s.commits, s.rollbacks = end_commits - commits, end_rollbacks - rollbacks
                s.redis_calls = self._redis_calls() - calls
                self.redis.close()


def print_run(run: EngineRun, n: int, base: float | None) -> float:
    rate = n / run.total
    s: Sample = run.observed
    ratio = f"{rate / base:5.2f} x 1 process" if base else ""
    print(
        f"\n{run.processes} process(es) x {run.threads} threads: {rate:7.1f} msg/s {ratio}  "
        f"(load {run.load[0]:.1f} → {run.load[1]:.1f}; deliveries {dict(run.states)}; "
        f"the sink received {run.received})"
    )
    cores = os.cpu_count() or 1
    ours = sum(s.cpu.values())
    print(f"  {'component':<22} {'CPU s':>7} {'cores':>6} {'µs a letter':>12} {'share':>6}")
    for name in COMPONENTS:
        cpu = s.cpu.get(name, 0.0)
        print(
            f"  {name:<22} {cpu:7.1f} {cpu / s.wall:6.2f} {cpu / n * 1e6:12.0f} "
            f"{cpu / max(ours, 1e-9):6.1%}"
        )
    other = max(0.0, s.machine_busy - ours)
    print(f"  {'other work (machine)':<22} {other:7.1f} {other / s.wall:6.2f}")
    print(
        f"  machine busy {s.machine_busy / (s.wall * cores):.0%} of {cores} cores over "
        f"{s.wall:.1f} s; each worker process {s.cpu['workers'] / s.wall / run.processes:.2f} "
        f"of a core"
    )
    total = sum(s.backend_samples.values()) or 1
    kinds = ", ".join(f"{k} {v / total:.0%}" for k, v in s.backend_samples.most_common(6))
    print(f"  database backends ({s.max_connections} at most): {kinds}")
    # Every try for a relay place runs ZREMRANGEBYSCORE once (pacing.py's _ACQUIRE); every place
    # taken is given back with one ZREM: tries beyond the places are waits for a full relay.
    tries, places = s.redis_calls.get("zremrangebyscore", 0), s.redis_calls.get("zrem", 0)
    top = ", ".join(f"{k} {v / n:.2f}" for k, v in s.redis_calls.most_common(6))
    print(
        f"  per letter: {s.commits / n:.2f} commits, {s.rollbacks / n:.2f} rollbacks; Redis "
        f"{sum(s.redis_calls.values()) / n:.1f} commands ({top}); relay retries "
        f"{max(0, tries - places) / n:.2f}"
    )
    voluntary, involuntary = s.switches
    print(
        f"  worker threads' context switches a letter: {voluntary / n:.1f} waiting (I/O, the "
        f"GIL), {involuntary / n:.1f} preempted (the cores were wanted elsewhere)"
    )
    per_letter = ours / n
    print(
        f"  all components: {per_letter * 1e6:.0f} µs of CPU a letter, i.e. at most "
        f"{cores / per_letter:.0f} msg/s on {cores} free cores"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--processes", default="1,2,4,6", help="comma-separated worker counts")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="ascending, descending, …")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--relay-concurrency",
        type=int,
        default=0,
        help="OUTREACH_RELAY_CONCURRENCY for the workers (default: processes x threads, so that "
        "the relay's places are never what is measured)",
    )
    parser.add_argument(
        "--relay-delay",
        type=int,
        default=0,
        help="seconds the sink waits before answering each DATA: a slow relay, where the relay's "
        "places (OUTREACH_RELAY_CONCURRENCY) and the threads set the pace",
    )
    parser.add_argument("--batch", type=int, default=50, help="letters a job (send_batch)")
    parser.add_argument("--smtp-sink", type=Path, default=bench.common.SMTP_SINK)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a PostgreSQL URL")
    exit_cleanly_on_signals()
    bench.common.SMTP_SINK = args.smtp_sink.resolve()
    counts = [int(p) for p in args.processes.split(",")]
    n = args.messages
    extra = {"OUTREACH_RELAY_CONCURRENCY": str(args.relay_concurrency)}
    print(
        f"{n:,} letters a run, {args.threads} threads a process, PostgreSQL "
        f"{make_url(args.database_url).host}; {machine()}",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="outreach-scale-"))
    rates: dict[int, list[float]] = {p: [] for p in counts}
    ratios: dict[int, list[float]] = {p: [] for p in counts}
    with private_redis(folder) as redis_url, smtp_sink(folder, args.relay_delay) as sink:
        delay = f", {args.relay_delay} s before each answer to DATA" if args.relay_delay else ""
        relay = args.relay_concurrency or "processes x threads"
        print(f"sink: {sink.name}{delay}; relay places: {relay}", flush=True)

        def observe(pids: list[int], database_url: str) -> contextlib.AbstractContextManager[Any]:
            return Sampler(pids, database_url, redis_url, sink).running()

        for round_ in range(args.rounds):
            order = counts if round_ % 2 == 0 else counts[::-1]
            print(f"\n=== round {round_ + 1}: {', '.join(map(str, order))} process(es)", flush=True)
            runs = {}
            for p in order:
                runs[p] = engine_run(
                    n, p, args.threads, sink, redis_url, args.database_url, batch=args.batch,
                    observe=observe, extra_env=extra if args.relay_concurrency else None,
                )  # fmt: skip
            base = n / runs[1].total if 1 in runs else None
            for p in counts:
                rate = print_run(runs[p], n, base)
                rates[p].append(rate)
                if base:
                    ratios[p].append(rate / base)
            sys.stdout.flush()
    print("\n=== summary: msg/s of each round, and the median ratio to 1 process in its round")
    for p in counts:
        each = ", ".join(f"{r:.0f}" for r in rates[p])
        if ratios[p]:
            print(f"{p} process(es): {each} msg/s")
            report(
                f"scale: {p} process(es), msg/s",
                statistics.median(rates[p]),
                "msg/s",
                statistics.median(rates[p]) / statistics.median(ratios[p]),
                "1 process",
            )


if __name__ == "__main__":
    main()
