"""Engine, sessions and the unit of work.

A `Database` owns one engine and one session factory. Web requests get one session (`db.session`)
that is closed at the end of the request; views commit once. Workers and CLI commands use
`db.transaction()`, which commits on success and rolls back on error. Jobs deferred in a session are
enqueued after its commit (see outreach.jobs). A write that is one statement, atomic by itself (a
public signature), may run on `db.autocommit()`: a connection without a transaction around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from flask import Flask, g
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from outreach.jobs import DISPATCHER_KEY, Dispatcher

# The execution option that marks a connection of `Database.autocommit()` (see is_autocommit).
AUTOCOMMIT = "outreach_autocommit"


def is_autocommit(connection: Connection) -> bool:
    """Whether `connection` is one of `Database.autocommit()`: what it runs is committed at once."""
    return bool(connection.get_execution_options().get(AUTOCOMMIT))


def make_engine(url: str, **options: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **options
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the web app read while a worker writes; busy_timeout waits instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **options)


class Database:
    def __init__(self, url: str, dispatcher: Dispatcher | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.factory = sessionmaker(
            bind=self.engine, expire_on_commit=False, info={DISPATCHER_KEY: dispatcher}
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def set_dispatcher(self, dispatcher: Dispatcher) -> None:
        self.factory.kw["info"] = {DISPATCHER_KEY: dispatcher}

    @cached_property
    def autocommit_engine(self) -> Engine:
        """The engine of `autocommit()`, made on first use (in the process that uses it)."""
        if self.is_sqlite:
            # A pool of its own, in autocommit from the start: on SQLite, switching a pooled
            # connection into autocommit and back runs PRAGMA read_uncommitted, which expires
            # every statement the connection had prepared, so each signature's INSERT was parsed
            # and planned again (170 µs of the 370 its write took).
            return make_engine(
                self.url, isolation_level="AUTOCOMMIT", execution_options={AUTOCOMMIT: True}
            )
        # PostgreSQL: the same pool; psycopg switches autocommit on the client, no round trip.
        return self.engine.execution_options(isolation_level="AUTOCOMMIT", **{AUTOCOMMIT: True})

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement is committed as it runs (no BEGIN and COMMIT
        round trips): for a write that is one statement, atomic by itself."""
        with self.autocommit_engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, or rolled back on error."""
        session = self.factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # --- Flask integration ----------------------------------------------------------------------
    def init_app(self, app: Flask) -> None:
        app.extensions["outreach.db"] = self

        @app.teardown_appcontext
        def _close_session(_exc: BaseException | None) -> None:
            session = g.pop("db_session", None)
            if session is not None:
                session.close()  # uncommitted work of a failed request is rolled back here

    @property
    def session(self) -> Session:
        """The session of the current request (or app context), created on first use."""
        if "db_session" not in g:
            g.db_session = self.factory()
        session: Session = g.db_session
        return session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.is_sqlite and "autocommit_engine" in self.__dict__:
            self.autocommit_engine.dispose()
