"""Engine, sessions and the unit of work.

A `Database` owns one engine and one session factory. Web requests get one session (`db.session`)
that is closed at the end of the request; views commit once. Workers and CLI commands use
`db.transaction()`, which commits on success and rolls back on error. Jobs deferred in a session are
enqueued after its commit (see outreach.jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from outreach.jobs import DISPATCHER_KEY, Dispatcher


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

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
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


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
