"""A loop run 1 000 rounds through the services: the sample review returned for correction (退回
修改) again and again. Plain SpiffWorkflow keeps every finished task, so its step cost grows each
round and it fails after about a hundred rounds of this model; approvals cuts old history from the
live state (engine/compact.py) while the audit trail keeps all of it."""

from __future__ import annotations

import statistics
import time

from sqlalchemy import func, select

from approvals.models import Event, ProcessInstance
from approvals.services import instances, tasks, users

from .common import STAFF, SUBMISSION, Table, fresh_database

ANSWERS = {
    "submit": ("HQ", SUBMISSION),
    "review_planning": ("PNR", {"opinion": "agree"}),
    "review_water": ("WATER", {"opinion": "agree"}),
    "decide": ("DRC", {"decision": "return", "reason": "材料不全"}),
}
OPINION = "请补正后重新提交。"


def run(table: Table, rounds: int = 1000) -> None:
    with fresh_database("sqlite") as (database, _):
        with database.session() as session:
            instance_id = instances.start_instance(
                session, "B-1", "sample_review", {}, users.get_user(session, STAFF["HQ"])
            )[0].id
        per_round, sizes = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(4):
                with database.session() as session:
                    (step,) = [t for t in instances.open_tasks(session, instance_id)][:1]
                    agency, data = ANSWERS[step.bpmn_id]
                    tasks.complete_task(session, step.id, data, users.get_user(session, STAFF[agency]), opinion=OPINION)
            per_round.append((time.perf_counter() - start) / 4)
            with database.session(read_only=True) as session:
                state = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))
                sizes.append(len(state))
        with database.session(read_only=True) as session:
            completed = session.scalar(
                select(func.count()).where(Event.instance_id == instance_id, Event.type == "task.completed")
            )
            status = session.get(ProcessInstance, instance_id).status
    first = statistics.median(per_round[:5]) * 1000
    last = statistics.median(per_round[-5:]) * 1000
    table.add(
        f"loop: instance after {rounds} rounds",
        f"{status}, state {sizes[-1] // 1024} KiB (round 1: {sizes[0] // 1024} KiB)",
        "survives",
        status == "running",
    )
    table.add(
        "loop: step cost at the last rounds vs the first",
        f"{last:.2f} ms vs {first:.2f} ms = {last / first:.2f}x",
        "<= 2x",
        last / first <= 2,
    )
    table.add("loop: audit trail", f"{completed} completions recorded of {rounds * 4}", "all", completed == rounds * 4)
