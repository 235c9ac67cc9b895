"""A step's work does not grow with its instance's history (issue 19: in a loop of 1 000 rounds
every step read the instance's 4 000 earlier steps, twice, and took 1.6x as long as in the first
rounds; a submission after hundreds of send backs read every run sent back once for each of them).

The work is counted as SQLite's virtual machine steps, which depend on the rows the statements
visit, not on the machine's speed. On SQLite only: PostgreSQL's planner picks its plans by the
tables' statistics, and a test database's tables are too small for its choices to show the
history's cost (EXPLAIN on a 1 000-round loop shows the same indexes used: bench/README.md)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from approvals.db import Database
from approvals.services.instance_change import open_tasks
from approvals.services.send_back import send_back
from tests.factories import complete, start, user
from tests.helpers import SUBMISSION

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# The sample model's 补正 loop: each round submits, both reviews agree, the decision returns.
ANSWERS = {
    "submit": SUBMISSION,
    "review_planning": {"opinion": "agree"},
    "review_water": {"opinion": "agree"},
    "decide": {"decision": "return", "reason": "材料不全"},
}


def test_a_step_deep_into_a_long_loop_does_the_work_of_one_in_a_new_instance(database, people, sample):
    young, old = _instances(database)
    for _ in range(4 * 40):  # 40 rounds, 160 steps behind it
        _next_step(database, old)
    for _ in range(4):
        _next_step(database, young)
    assert _work(database, old) <= 1.25 * _work(database, young)


def test_a_submission_reads_the_runs_sent_back_once_each(database, people, sample):
    """Each run sent back counts toward the reviews' clocks when they open again: the work may
    grow with their number, but no faster (twice the runs, at most twice the work)."""
    fewer, more = _instances(database)
    for instance_id, times in ((fewer, 20), (more, 40)):
        for _ in range(times):
            _next_step(database, instance_id)  # the submission
            with database.session() as session:
                review = next(t for t in open_tasks(session, instance_id) if t.bpmn_id == "review_planning")
                send_back(session, review.id, "submit", "材料不全", user(session, "pnr"))
    assert _work(database, more) <= 2 * _work(database, fewer)  # the submission again


def _instances(database: Database) -> tuple[int, int]:
    with database.session() as session:
        return start(session, code="P-1")[0].id, start(session, code="P-2")[0].id


def _next_step(database: Database, instance_id: int) -> None:
    with database.session() as session:
        _complete_first(session, instance_id)


def _complete_first(session: Session, instance_id: int) -> None:
    """Complete the instance's first open step with the loop's answer."""
    step = open_tasks(session, instance_id)[0]
    complete(session, step, ANSWERS[step.bpmn_id], opinion="请补正")


def _work(database: Database, instance_id: int) -> int:
    """SQLite's virtual machine steps for the instance's next step, its reads and writes."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with database.session() as session:
        raw = session.connection().connection.dbapi_connection
        raw.set_progress_handler(count, 1)
        try:
            _complete_first(session, instance_id)
        finally:
            raw.set_progress_handler(None, 1)
    return steps
