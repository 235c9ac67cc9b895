"""The pages people open every day, on the demo's data (`approvals seed-demo`: the four bundled
processes, projects at every stage): a step's page as its agency's staff, their inbox, and a
project's page with its lifecycle, as a follower. The median time of a view through the app
in-process (Flask's test client, signed in), the statements one view sends, and the workflows
each deserialized once viewed (0: a step's send-back targets borrow the kept workflow).
No target: what a page costs, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial

from sqlalchemy import event, select

from approvals.app import create_app
from approvals.demo import DEMO_PASSWORD
from approvals.engine.runtime import ModelRuntime
from approvals.models import Task, TaskState

from .common import Table, csrf_token_in, empty_database, median_ms, timed

STAFF, FOLLOWER = "water_staff", "observer"  # WATER reviews in several of the demo's processes
PROJECT = "SZ-IEC"  # the demo's project in tendering: four stages, two of them done


def _signed_in(app, username: str):
    client = app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in as {username}: {answer.status_code}")
    return client


def measure(kind: str, repeat: int) -> list[tuple[str, float, int, int]]:
    """(page, median ms, statements of one view, workflows deserialized by ``repeat`` views) each."""
    with empty_database(kind) as (url, folder):
        command = [sys.executable, "-m", "approvals.cli", "--database-url", url, "seed-demo"]
        subprocess.run(command, check=True, capture_output=True, env=dict(os.environ, APPROVALS_DATA_DIR=folder))
        app = create_app({"DATABASE_URL": url, "DATA_DIR": folder})
        engine = app.extensions["approvals_db"].engine
        with engine.connect() as conn:
            step = conn.scalar(
                select(Task.id).where(Task.agency_code == "WATER", Task.state == TaskState.OPEN).order_by(Task.id)
            )
        staff, follower = _signed_in(app, STAFF), _signed_in(app, FOLLOWER)
        pages = [
            (f"a step's page ({STAFF})", staff, f"/tasks/{step}"),
            (f"the inbox ({STAFF})", staff, "/tasks"),
            (f"a project's page with its lifecycle ({FOLLOWER})", follower, f"/projects/{PROJECT}"),
        ]
        sent, loads, found = [], [], []
        event.listen(engine, "before_cursor_execute", lambda *_: sent.append(1))
        original = ModelRuntime.load
        ModelRuntime.load = lambda self, state: loads.append(1) or original(self, state)
        try:
            for name, client, path in pages:
                for _ in range(10):  # what a process keeps once read (forms, diagrams, the directory)
                    if client.get(path).status_code != 200:
                        raise RuntimeError(f"{path} as {name}: not 200")
                sent.clear()
                client.get(path)
                statements = len(sent)
                loads.clear()
                median = median_ms(timed(partial(client.get, path), repeat))
                found.append((name, median, statements, len(loads)))
        finally:
            ModelRuntime.load = original
            app.extensions["approvals_db"].dispose()
        return found


def run(table: Table, repeat: int = 200) -> None:
    for kind in ("sqlite", "postgresql"):
        for name, median, statements, loads in measure(kind, repeat):
            table.add(
                f"{name} on {kind}, demo data",
                f"{median:.2f} ms median, {statements} statements, {loads} workflows deserialized in {repeat} views",
            )
