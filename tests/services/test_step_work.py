"""A step's work does not grow with its instance's history, nor with the other instances' open
items (issue 19: in a loop of 1 000 rounds every step read the instance's 4 000 earlier steps,
twice, and took 1.6x as long as in the first rounds; a submission after hundreds of send backs read
every run sent back once for each of them; an escalated step looked for its reminders among every
open item of every instance; in an instance once sent back, every step that opened read all the
steps it had finished, and so did a returned step's page, and its send-back options).

The work is counted as SQLite's virtual machine steps, which depend on the rows the statements
visit, not on the machine's speed. On SQLite only: PostgreSQL's planner picks its plans by the
tables' statistics, and a test database's tables are too small for its choices to show the
history's cost (EXPLAIN on a 1 000-round loop shows the same indexes used: bench/README.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy.orm import Session

from approvals.db import Database
from approvals.services import escalation
from approvals.services.instance_change import open_tasks
from approvals.services.materials import can_read_materials
from approvals.services.send_back import returned, send_back, targets
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
    assert _next_work(database, old) <= 1.25 * _next_work(database, young)


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
    assert _next_work(database, more) <= 2 * _next_work(database, fewer)  # the submission again


def test_a_step_deep_into_a_long_loop_once_sent_back_does_the_work_of_one_in_a_new_instance(database, people, sample):
    """Once an instance was sent back, the steps that open read the runs sent back since each last
    finished normally (their clocks resume): found by walking each step's own runs back from the
    latest, not by reading every step the instance finished."""
    young, old = _instances(database)
    for instance_id in (young, old):
        _next_step(database, instance_id)
        _work(database, _send_back(instance_id))
    for _ in range(4 * 40):
        _next_step(database, old)
    for _ in range(4):
        _next_step(database, young)
    assert _next_work(database, old) <= 1.25 * _next_work(database, young)  # the submission: the reviews open


def test_an_escalated_step_finds_its_reminders_among_its_instances_items(database, people, sample):
    """Completing an overdue step cancels its reminder: as much work with 100 other instances
    waiting as with none."""
    with time_machine.travel(datetime(2026, 9, 21, 2, 0, tzinfo=UTC), tick=False):
        first, second = _instances(database)
        for instance_id in (first, second):
            _next_step(database, instance_id)  # submitted: the reviews open, water due 2026-10-19
    with time_machine.travel(datetime(2026, 10, 20, 2, 0, tzinfo=UTC), tick=False):
        assert escalation.escalate_overdue(database) == 2  # the water reviews

        def complete_water(instance_id: int) -> Callable[[Session], None]:
            def change(session: Session) -> None:
                water = next(t for t in open_tasks(session, instance_id) if t.bpmn_id == "review_water")
                complete(session, water, ANSWERS["review_water"])

            return change

        alone = _work(database, complete_water(first))
        with database.session() as session:
            for n in range(100):
                start(session, code=f"W-{n}")
        assert _work(database, complete_water(second)) <= 1.25 * alone


def test_a_send_back_deep_into_a_long_loop_does_the_work_of_one_in_a_new_instance(database, people, sample):
    """The step sent back to is looked up among its own runs, not the instance's whole history."""
    young, old = _instances(database)
    for _ in range(4 * 40):
        _next_step(database, old)
    for instance_id in (young, old):
        _next_step(database, instance_id)  # submitted: the reviews open
    assert _work(database, _send_back(old)) <= 1.25 * _work(database, _send_back(young))


def test_a_returned_steps_pages_read_no_more_deep_into_a_long_loop(database, people, sample):
    """What a step's page shows besides the step — why it is open again (who sent it back, the
    answers of its previous run) and where it may be sent back to — is read from the runs of the
    steps concerned, not from the instance's whole history."""
    young, old = _instances(database)
    for _ in range(4 * 40):
        _next_step(database, old)
    for _ in range(4):  # one round: the path back to the submission as long as the old one's
        _next_step(database, young)
    work = {}
    for instance_id in (young, old):
        _next_step(database, instance_id)
        _work(database, _send_back(instance_id))  # the submission is open again

        def why_returned(session: Session, instance_id: int = instance_id) -> None:
            assert returned(session, open_tasks(session, instance_id)[0]) is not None

        def where_to(session: Session, instance_id: int = instance_id) -> None:
            review = next(t for t in open_tasks(session, instance_id) if t.bpmn_id == "review_planning")
            assert [t.bpmn_id for t in targets(session, review)][0] == "submit"  # nearest first

        returned_work = _work(database, why_returned)
        _next_step(database, instance_id)  # submitted again: the reviews open
        work[instance_id] = (returned_work, _work(database, where_to))
    assert work[old][0] <= 1.25 * work[young][0]
    assert work[old][1] <= 1.25 * work[young][1]


def test_who_may_read_an_instances_files_is_asked_within_the_instance(database, people, sample):
    """Whether the caller's agency holds or held a step of an instance (its files, its history and
    its comments are theirs to read) costs as much with 100 other instances at that agency as with
    none."""
    first, _ = _instances(database)
    _next_step(database, first)  # submitted: PNR's review opens

    def may_read(instance_id: int) -> Callable[[Session], None]:
        def check(session: Session) -> None:
            assert can_read_materials(session, user(session, "pnr"), instance_id)

        return check

    alone = _work(database, may_read(first))
    with database.session() as session:
        for n in range(100):
            _complete_first(session, start(session, code=f"W-{n}")[0].id)
        last = start(session, code="P-3")[0].id
        _complete_first(session, last)
    assert _work(database, may_read(last)) <= 1.25 * alone


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


def _next_work(database: Database, instance_id: int) -> int:
    """The work of the instance's next step in the loop."""
    return _work(database, lambda session: _complete_first(session, instance_id))


def _work(database: Database, change: Callable[[Session], None]) -> int:
    """SQLite's virtual machine steps for ``change``, its reads and writes."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with database.session() as session:
        raw = session.connection().connection.dbapi_connection
        raw.set_progress_handler(count, 1)
        try:
            change(session)
        finally:
            raw.set_progress_handler(None, 1)
    return steps


def _send_back(instance_id: int) -> Callable[[Session], None]:
    def change(session: Session) -> None:
        review = next(t for t in open_tasks(session, instance_id) if t.bpmn_id == "review_planning")
        send_back(session, review.id, "submit", "材料不全", user(session, "pnr"))

    return change
