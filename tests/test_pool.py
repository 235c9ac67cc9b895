"""PostgreSQL's connection pool: a connection that lay idle is checked before use, one used a
moment ago is not (a ping per request cost a round trip each)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from approvals import db
from approvals.db import Database

pytestmark = pytest.mark.postgres

WINDOW = 0.2  # seconds, shortened for the tests


@pytest.fixture
def pooled(postgres_migrated, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", WINDOW)
    database = Database(postgres_migrated)
    pings = []
    ping = database.engine.dialect.do_ping
    monkeypatch.setattr(database.engine.dialect, "do_ping", lambda connection: pings.append(1) or ping(connection))
    yield database, pings
    database.dispose()


def backend(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_used_a_moment_ago_is_not_pinged_one_idle_longer_is(pooled):
    database, pings = pooled
    first = backend(database)
    assert [backend(database) for _ in range(3)] == [first] * 3  # the same connection, straight back
    assert pings == []
    time.sleep(WINDOW * 2)
    assert backend(database) == first
    assert pings == [1]


def test_a_connection_lost_while_idle_is_replaced_before_anyone_uses_it(pooled, postgres_migrated):
    database, pings = pooled
    lost = backend(database)
    admin = create_engine(postgres_migrated)
    try:
        with admin.begin() as conn:  # as a server restart or an idle-connection reaper would
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
    finally:
        admin.dispose()
    time.sleep(WINDOW * 2)
    replacement = backend(database)  # no error: the ping found the connection dead
    assert replacement != lost
    assert pings == [1]
