"""A loop run 1 000 rounds through the services: the sample review returned for correction (退回
修改) again and again. Plain SpiffWorkflow keeps every finished task, so its step cost grows each
round and it fails after about a hundred rounds of this model; approvals cuts old history from the
live state (engine/compact.py) while the audit trail keeps all of it. The loop's instance is sent
back once before it (then each step that opens reads the runs sent back since it last ended
normally, and must not read the whole history to find them). A second instance is sent
back (退回) to its submission 1 000 times: each resubmission counts every run sent back toward the
reviews' clocks, and must not read them more than once. Costs are medians over the first and the
last 5 % of the rounds (50 of 1 000), so that a few slow rounds on the shared machine do not
decide the ratio."""

from __future__ import annotations

import statistics
import time

from sqlalchemy import func, select

from approvals.db import Database
from approvals.models import Event, ProcessInstance
from approvals.services import instances, send_back, tasks, users

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
        # Sent back once first: from then on, every step that opens reads the runs sent back since
        # its last normal end (its clock resumes), which once meant the instance's whole history.
        _resubmit(database, instance_id)
        _send_back(database, instance_id)
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
    first, last = _first_and_last(per_round)
    table.add(
        f"loop (after one send back): instance after {rounds} rounds",
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
    made = rounds * 4 + 1  # and the submission sent back before the loop
    table.add("loop: audit trail", f"{completed} completions recorded of {made}", "all", completed == made)
    _sent_back_loop(table, rounds)


def _sent_back_loop(table: Table, rounds: int) -> None:
    """Submit, then the planning review sends the application back to the submission, ``rounds`` times."""
    with fresh_database("sqlite") as (database, _):
        with database.session() as session:
            hq = users.get_user(session, STAFF["HQ"])
            instance_id = instances.start_instance(session, "B-1", "sample_review", {}, hq)[0].id
        per_round = []
        for _ in range(rounds):
            start = time.perf_counter()
            _resubmit(database, instance_id)
            _send_back(database, instance_id)
            per_round.append((time.perf_counter() - start) / 2)
        with database.session(read_only=True) as session:
            sent_back = session.scalar(
                select(func.count()).where(Event.instance_id == instance_id, Event.type == "task.sent_back")
            )
    first, last = _first_and_last(per_round)
    table.add(
        f"loop sent back {rounds} times: step cost at the last rounds vs the first",
        f"{last:.2f} ms vs {first:.2f} ms = {last / first:.2f}x; {sent_back} send backs recorded of {rounds}",
        "<= 2x, all",
        last / first <= 2 and sent_back == rounds,
    )


def _resubmit(database: Database, instance_id: int) -> None:
    with database.session() as session:
        (submit,) = instances.open_tasks(session, instance_id)
        tasks.complete_task(session, submit.id, SUBMISSION, users.get_user(session, STAFF["HQ"]))


def _send_back(database: Database, instance_id: int) -> None:
    """The planning review sends the application back to the submission (退回)."""
    with database.session() as session:
        review = next(t for t in instances.open_tasks(session, instance_id) if t.bpmn_id == "review_planning")
        send_back.send_back(session, review.id, "submit", "材料不全", users.get_user(session, STAFF["PNR"]))


def _first_and_last(per_round: list[float]) -> tuple[float, float]:
    """Median cost (ms) of the first and of the last 5 % of the rounds (at least 5 each)."""
    window = max(5, len(per_round) // 20)
    return statistics.median(per_round[:window]) * 1000, statistics.median(per_round[-window:]) * 1000
