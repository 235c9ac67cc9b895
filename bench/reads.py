"""Inbox and project status latency with 1 000 and with 100 000 instances in the database.

The data is bulk-inserted the way years of use leave it: the same 200 instances running (one open
step each, spread over four agencies), and all the others finished (four finished steps each);
twenty instances a project. So both sizes show the same inbox; only the history grows. The reads
go through the real API in-process, the two databases taking turns (measured one after the other,
the small one's figures came minutes before the large one's, and the machine's drift moved the
ratio), and neither may deserialize a workflow (counted)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import insert, select, text

from approvals.app import create_app
from approvals.engine.runtime import ModelRuntime
from approvals.models import ProcessDefinition, ProcessInstance, Project, Task, User, utcnow
from approvals.services import users

from .common import STAFF, Table, fresh_database, percentile, timed

AGENCIES = ("PNR", "WATER", "DRC", "HQ")
STEPS = (("submit", "HQ"), ("review_planning", "PNR"), ("review_water", "WATER"), ("decide", "DRC"))
BATCH = 5000
RUNNING = 200


def seed(database, count: int) -> None:
    """``count`` instances with their task rows, inserted in batches."""
    now = utcnow()
    with database.session() as session:
        definition_id = session.scalar(select(ProcessDefinition.id))
        owner = session.scalar(select(User.id).where(User.username == STAFF["HQ"]))
        first_project = session.scalar(select(Project.id)) + 1
        session.execute(
            insert(Project),
            [
                {"code": f"R-{n}", "name": f"项目{n}", "created_by_id": owner, "created_at": now}
                for n in range(count // 20 + 1)
            ],
        )
        next_task = 1
        for base in range(0, count, BATCH):
            rows, task_rows = [], []
            for n in range(base, min(base + BATCH, count)):
                running = n < RUNNING
                rows.append(
                    {
                        "id": n + 1,
                        "project_id": first_project + n // 20,
                        "definition_id": definition_id,
                        "status": "running" if running else "completed",
                        "state": "{}",
                        "state_format": "bench",
                        "lock_version": 1,
                        "started_at": now - timedelta(days=n % 700),
                        "updated_at": now,
                        "started_by_id": owner,
                    }
                )
                for index, (bpmn_id, agency) in enumerate(STEPS):
                    open_step = running and index == n % 4
                    if running and index > n % 4:
                        break
                    task_rows.append(
                        {
                            "id": next_task,
                            "instance_id": n + 1,
                            "kind": "step",
                            "spiff_task_id": f"b-{next_task}",
                            "bpmn_id": bpmn_id,
                            "name": bpmn_id,
                            "stage": "示例联合审查",
                            "agency_code": agency,
                            "state": "open" if open_step else "completed",
                            "created_at": now - timedelta(days=3),
                            "due_at": now + timedelta(days=(n % 30) - 5),
                            "completed_at": None if open_step else now,
                            "statutory": True,
                            "limit_workdays": 20,
                            "excluded_steps": [],
                            "input_data": {},
                            "documentation": "",
                            "due_provisional": False,
                        }
                    )
                    next_task += 1
            session.execute(insert(ProcessInstance), rows)
            session.execute(insert(Task), task_rows)
            session.flush()
        if database.engine.dialect.name == "postgresql":
            for table in ("process_instance", "task", "project"):
                session.execute(text(f"ANALYZE {table}"))


@contextmanager
def reading(kind: str, count: int, name: str) -> Iterator[tuple[Callable[[], object], Callable[[], object]]]:
    """A database of ``count`` instances (named ``name`` on PostgreSQL) and the reads timed on it
    through the API in-process: (PNR's inbox, one project's status)."""
    with fresh_database(kind, name) as (database, url):
        seed(database, count)
        with database.session() as session:
            token, _ = users.issue_token(session, users.get_user(session, STAFF["PNR"]), days=1)
        app = create_app({"DATABASE_URL": url})
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        code = "R-3"  # running instances 60-79
        try:
            yield (
                lambda: client.get("/api/tasks", headers=headers),
                lambda: client.get(f"/api/projects/{code}/status", headers=headers),
            )
        finally:
            app.extensions["approvals_db"].dispose()


def measure(kind: str, small: int, large: int, repeat: int) -> tuple[dict[str, list[float]], int]:
    """Seconds of each read on ``small`` and on ``large`` instances (``inbox small``, ``status
    large``…), the two databases taking turns, one request each, so that the shared machine's
    drift falls on both alike; and the workflows deserialized meanwhile."""
    loads = []
    original = ModelRuntime.load
    ModelRuntime.load = lambda self, state: loads.append(1) or original(self, state)
    try:
        with reading(kind, small, "approvals_bench") as few, reading(kind, large, "approvals_bench_large") as many:
            reads = {"inbox small": few[0], "status small": few[1], "inbox large": many[0], "status large": many[1]}
            for read in reads.values():
                assert read().status_code == 200
            times: dict[str, list[float]] = {name: [] for name in reads}
            for _ in range(repeat):
                for name, read in reads.items():
                    times[name] += timed(read, 1)
    finally:
        ModelRuntime.load = original
    return times, len(loads)


def run(table: Table, small: int = 1000, large: int = 100_000, repeat: int = 200) -> None:
    for kind in ("postgresql", "sqlite"):
        times, loads = measure(kind, small, large, repeat)
        for read in ("inbox", "status"):
            few, many = (percentile(times[f"{read} {size}"], 95) * 1000 for size in ("small", "large"))
            table.add(
                f"{read} p95 on {kind}, {large:,} vs {small:,} instances (taking turns)",
                f"{many:.2f} vs {few:.2f} ms = {many / few:.2f}x",
                "<= 1.5x",
                many / few <= 1.5,
            )
        table.add(f"workflows deserialized by these reads ({kind})", str(loads), "0", loads == 0)
