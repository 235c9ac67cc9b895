"""Fixtures for both databases.

Every database test runs on SQLite and, when APPROVALS_TEST_POSTGRES_URL is set, on PostgreSQL.
The schema is migrated once per session (Alembic, as in production); each test then starts from
an empty database: SQLite by copying the migrated file, PostgreSQL by truncating every table.
Tests commit for real, so concurrency tests see what production would.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from approvals import migrate
from approvals.app import create_app
from approvals.config import PROJECT_ROOT
from approvals.db import Base, Database
from approvals.services import agencies, definitions, users
from approvals.services.limits import Limits

POSTGRES_URL = os.environ.get("APPROVALS_TEST_POSTGRES_URL")
BPMN_DIR = PROJECT_ROOT / "bpmn"
FORMS_DIR = PROJECT_ROOT / "workflows" / "forms"
AGENCIES = PROJECT_ROOT / "workflows" / "agencies.toml"
PASSWORD = "secret-pass"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def worker_database(url: str, worker: str) -> str:
    """The PostgreSQL database a pytest-xdist worker owns (`test` → `test_gw0`), created when missing:
    workers truncate and migrate their own database, never another's. Without xdist, `url` itself."""
    if worker == "master":
        return url
    given = make_url(url)
    name = f"{given.database}_{worker}"
    engine = create_engine(given, isolation_level="AUTOCOMMIT")  # CREATE DATABASE runs outside a transaction
    try:
        with engine.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return given.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_migrated(worker_id) -> str:
    if not POSTGRES_URL:
        pytest.skip("APPROVALS_TEST_POSTGRES_URL is not set")
    try:
        url = worker_database(POSTGRES_URL, worker_id)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception as exc:  # CI sets the URL: an unreachable server must fail, not skip
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "approvals.sqlite3"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("postgres_migrated")
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """Where this test's uploaded materials are stored."""
    return tmp_path / "data"


@pytest.fixture
def database(database_url, data_dir) -> Iterator[Database]:
    db = Database(database_url, {"limits": Limits(data_dir=str(data_dir))})
    with db.session() as session:
        agencies.load_agencies(session, AGENCIES)
    yield db
    db.dispose()


@pytest.fixture
def app(database, database_url, data_dir):
    application = create_app({"DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "TESTING": True})
    yield application
    application.extensions["approvals_db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def read_forms(bpmn: Path) -> dict[str, bytes]:
    """The form files a bundled model names, from workflows/forms/."""
    names = re.findall(r"<spiffworkflow:formJsonSchemaFilename>([^<]+)<", bpmn.read_text())
    return {name: (FORMS_DIR / name).read_bytes() for name in set(names)}


def publish_file(db: Database, name: str = "sample_review.bpmn", forms: dict[str, bytes] | None = None):
    path = BPMN_DIR / name
    with db.session() as session:
        definition, _ = definitions.publish(
            session, path.read_bytes(), read_forms(path) if forms is None else forms, None
        )
        return definition.key, definition.version


@dataclass
class People:
    """One user per role that tests need, with their API tokens."""

    tokens: dict[str, str]

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


STANDARD_USERS = [
    ("hq", "HQ", "staff"),
    ("hq_lead", "HQ", "lead"),
    ("pnr", "PNR", "staff"),
    ("pnr2", "PNR", "staff"),
    ("pnr_lead", "PNR", "lead"),
    ("water", "WATER", "staff"),
    ("drc", "DRC", "staff"),
    ("drc_lead", "DRC", "lead"),
    ("owner", "HQ", "owner"),
    ("admin", "HQ", "admin"),
    ("observer", "HQ", "observer"),
]


@pytest.fixture(scope="session")
def password_hash() -> str:
    return generate_password_hash(PASSWORD)


@pytest.fixture
def people(database, password_hash, monkeypatch) -> People:
    # Hashing is deliberately slow; hash the shared test password once per session.
    monkeypatch.setattr(users, "generate_password_hash", lambda _password: password_hash)
    tokens = {}
    with database.session() as session:
        for username, agency, role in STANDARD_USERS:
            user = users.create_user(session, username=username, password=PASSWORD, agency_code=agency, role=role)
            tokens[username], _ = users.issue_token(session, user, days=1)
    return People(tokens)


@pytest.fixture
def sample(database):
    return publish_file(database)


class LiveServer:
    """The app served over real HTTP by a threaded WSGI server, for concurrency tests."""

    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server
