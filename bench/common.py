"""What the benchmarks share: throwaway databases on SQLite and PostgreSQL, the sample model,
users, timing and the table they print."""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests

from approvals import migrate
from approvals.config import PROJECT_ROOT
from approvals.db import Database
from approvals.services import agencies, definitions, projects, users
from approvals.services.limits import Limits

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/approvals_bench"
SAMPLE = PROJECT_ROOT / "bpmn" / "sample_review.bpmn"
FORMS = PROJECT_ROOT / "workflows" / "forms"
SUBMISSION = {"application_title": "基准测试", "estimated_investment": 1000}
STAFF = {"HQ": "b_hq", "PNR": "b_pnr", "WATER": "b_water", "DRC": "b_drc"}
PASSWORD = "bench-pw"  # noqa: S105 - the benchmark users' password, in a throwaway database


def sample_forms() -> dict[str, bytes]:
    return {
        name: (FORMS / name).read_bytes()
        for name in ("sample_submit.schema.json", "sample_opinion.schema.json", "sample_decision.schema.json")
    }


@contextmanager
def empty_database(kind: str, name: str = "approvals_bench"):
    """A new, empty database of ``kind`` (on PostgreSQL, database ``name``: one of the benchmark's
    own, whose names begin ``approvals_bench``) and a folder for its files; yields (url, folder)."""
    if not name.startswith("approvals_bench"):
        raise ValueError(f"the benchmark drops and creates its own databases only, not {name!r}")
    with tempfile.TemporaryDirectory() as folder:
        if kind == "sqlite":
            url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        else:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {name}")
            url = PG_BENCH.replace("/approvals_bench", f"/{name}")
        yield url, folder


@contextmanager
def fresh_database(kind: str, name: str = "approvals_bench"):
    """A migrated, empty database with the agencies, the sample model, a project and one staff
    member per agency; yields (Database, url)."""
    with empty_database(kind, name) as (url, folder):
        migrate.upgrade(url)
        database = Database(url, {"limits": Limits(data_dir=folder)})
        with database.session() as session:
            agencies.load_agencies(session, PROJECT_ROOT / "workflows" / "agencies.toml")
            admin_user = users.create_user(
                session, username="b_admin", password=PASSWORD, agency_code="HQ", role="admin"
            )
            for agency, name in STAFF.items():
                users.create_user(session, username=name, password=PASSWORD, agency_code=agency, role="staff")
            definitions.publish(session, SAMPLE.read_bytes(), sample_forms(), admin_user)
            projects.create_project(session, projects.NewProject(code="B-1", name="基准项目"), admin_user)
        try:
            yield database, url
        finally:
            database.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(command: list[str], env: dict[str, str] | None = None, answers: str | None = None) -> subprocess.Popen:
    """``command`` in its own process group (so ``stop_process`` takes its children too), its output
    dropped; with ``answers`` (a base URL), once its ``/healthz`` answers 200."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    if answers is None:
        return process
    for _ in range(150):
        try:
            if requests.get(answers + "/healthz", timeout=1).ok:
                return process
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    stop_process(process)
    raise RuntimeError(f"{command[0]} did not answer at {answers}")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def csrf_token_in(page: str) -> str:
    """The CSRF token of a page's form (the sign-in page's, to sign in as a browser does)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if found is None:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Seconds per call, ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


class Table:
    """Rows of (benchmark, figure, target, verdict), printed at the end."""

    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, figure: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append((what, figure, target, "" if met is None else ("met" if met else "NOT MET")))
        print(f"  {what}: {figure}" + (f"  (target {target}: {self.rows[-1][3]})" if target else ""), flush=True)

    def print(self) -> None:
        widths = [max(len(row[i]) for row in [("benchmark", "figure", "target", "")] + self.rows) for i in range(4)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        print()
        print(line.format("benchmark", "figure", "target", ""))
        print(line.format(*("-" * w for w in widths)))
        for row in self.rows:
            print(line.format(*row))
