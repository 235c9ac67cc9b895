"""Inbox and project status latency with 1 000 and with 100 000 instances in the database.

The data is bulk-inserted the way years of use leave it: the same 200 instances running (one open
step each, spread over four agencies), and all the others finished (four finished steps each);
twenty instances a project. So both sizes show the same inbox; only the history grows. The reads
go through the real API in-process, and neither may deserialize a workflow (counted)."""

from __future__ import annotations

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


def measure(kind: str, count: int, repeat: int) -> tuple[float, float, int]:
    """p95 (ms) of the PNR inbox and of one project's status, and workflow loads during them."""
    with fresh_database(kind) as (database, url):
        seed(database, count)
        with database.session() as session:
            token, _ = users.issue_token(session, users.get_user(session, STAFF["PNR"]), days=1)
        app = create_app({"DATABASE_URL": url})
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        loads = []
        original = ModelRuntime.load
        ModelRuntime.load = lambda self, state: loads.append(1) or original(self, state)
        try:
            code = "R-3"  # running instances 60-79
            for path in ("/api/tasks", f"/api/projects/{code}/status"):
                assert client.get(path, headers=headers).status_code == 200
            inbox = timed(lambda: client.get("/api/tasks", headers=headers), repeat)
            status = timed(lambda: client.get(f"/api/projects/{code}/status", headers=headers), repeat)
        finally:
            ModelRuntime.load = original
            app.extensions["approvals_db"].dispose()
        return percentile(inbox, 95) * 1000, percentile(status, 95) * 1000, len(loads)


def run(table: Table, small: int = 1000, large: int = 100_000, repeat: int = 200) -> None:
    for kind in ("postgresql", "sqlite"):
        inbox_small, status_small, loads_small = measure(kind, small, repeat)
        inbox_large, status_large, loads_large = measure(kind, large, repeat)
        table.add(
            f"inbox p95 on {kind}, {large:,} vs {small:,} instances",
            f"{inbox_large:.2f} vs {inbox_small:.2f} ms = {inbox_large / inbox_small:.2f}x",
            "<= 1.5x",
            inbox_large / inbox_small <= 1.5,
        )
        table.add(
            f"status p95 on {kind}, {large:,} vs {small:,} instances",
            f"{status_large:.2f} vs {status_small:.2f} ms = {status_large / status_small:.2f}x",
            "<= 1.5x",
            status_large / status_small <= 1.5,
        )
        table.add(
            f"workflows deserialized by these reads ({kind})",
            str(loads_small + loads_large),
            "0",
            loads_small + loads_large == 0,
        )
