"""Engine, sessions and the one-session-per-request rule.

SQLite is the embedded default, PostgreSQL the production database; the same code runs on both.
On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` so that two writers queue on
the database lock instead of failing halfway (the row lock of PostgreSQL has no SQLite twin);
reads (GET requests) begin deferred and never block writers thanks to WAL.

On PostgreSQL a pooled connection is checked with a ping before use only when it has lain idle
for a while (``PING_AFTER_IDLE``), as HikariCP does: a ping on every checkout cost a round trip per
request, about 7 % of a busy worker's time (issue 19).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, g, request
from sqlalchemy import Engine, MetaData, create_engine, event, exc
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # LIFO: under light load the same few connections serve, so fewer of them lie idle long enough to be pinged.
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_use_lifo=True)
    _ping_when_idle(engine)
    return engine


# Seconds a pooled connection may lie idle and still be used without a ping first (HikariCP's
# default window). A server restart meanwhile fails the one statement that meets the dead
# connection (the pool then replaces every older one), as it would fail any request in flight.
PING_AFTER_IDLE = 0.5
_CHECKED_IN = "approvals_checked_in"  # in the connection's info: when it went back to the pool


def _ping_when_idle(engine: Engine) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)  # None: a new connection
        if checked_in is None or time.monotonic() - checked_in <= PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool connects afresh and drops every connection older than this one, as its pre-ping does.
                raise exc.InvalidatePoolError(f"the pooled connection was lost: {error}") from error
            raise


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see module doc).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        deferred = conn.get_execution_options().get("sqlite_deferred", False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class Database:
    """The app's engine and session factories (``app.extensions['approvals_db']``)."""

    def __init__(self, url: str, session_info: dict | None = None):
        self.url = url
        self.engine = make_engine(url)
        # session.info carries settings services need (their limits) without an app context.
        info = dict(session_info or {})
        self.write_sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(sqlite_deferred=True), expire_on_commit=False, info=info
        )

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session committed on success and rolled back on error (CLI, worker, tests)."""
        factory = self.read_sessions if read_only else self.write_sessions
        with factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def init_app(app: Flask, session_info: dict | None = None) -> None:
    database = Database(app.config["DATABASE_URL"], session_info)
    app.extensions["approvals_db"] = database

    @app.after_request
    def _finish(response):
        session = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        return response

    @app.teardown_request
    def _teardown(_exc):
        # Only reached with a session when the request failed before after_request ran.
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def get_session() -> Session:
    """The request's session, begun deferred for safe methods and immediate for writes."""
    if "db_session" not in g:
        from flask import current_app

        database: Database = current_app.extensions["approvals_db"]
        read_only = request.method in ("GET", "HEAD", "OPTIONS")
        g.db_session = (database.read_sessions if read_only else database.write_sessions)()
    return g.db_session
