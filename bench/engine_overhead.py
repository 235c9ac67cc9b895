"""One task completion through approvals' services (a real transaction on SQLite or PostgreSQL)
against the raw SpiffWorkflow cycle in memory for the same model and state: deserialize,
complete, engine steps, serialize. The three take turns, so the shared machine's drift falls on all
of them alike."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, text

from approvals.services import instances, tasks, users

from .common import SAMPLE, STAFF, SUBMISSION, Table, fresh_database, median_ms, timed

OPINION = {"opinion": "agree"}


def raw_cycle() -> Callable[[], None]:
    """Plain SpiffWorkflow, as its documentation shows it: its parser, script engine and serializer.
    Returns one cycle on the saved state of the sample model's PNR review."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(SAMPLE))
    workflow = BpmnWorkflow(parser.get_spec("sample_review"), parser.get_subprocess_specs("sample_review"))
    workflow.do_engine_steps()
    (submit,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    submit.data.update(SUBMISSION)
    submit.run()
    workflow.do_engine_steps()
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    state = serializer.serialize_json(workflow)

    def cycle():
        loaded = serializer.deserialize_json(state)
        review = next(
            t for t in loaded.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == "review_planning"
        )
        review.data.update(OPINION)
        review.run()
        loaded.do_engine_steps()
        serializer.serialize_json(loaded)

    return cycle


def raw_cycle_times(repeat: int) -> list[float]:
    cycle = raw_cycle()
    timed(cycle, 20)  # warm up
    return timed(cycle, repeat)


@contextmanager
def service_cycles(kind: str, repeat: int) -> Iterator[tuple[Callable[[], None], Callable[[], None], list[int]]]:
    """On a fresh database of ``kind``: (the service cycle, the storage floor cycle, the statements
    each service cycle sent, commit included).

    The service cycle is ``complete_task`` in its own committed transaction, each call on another
    instance in the same state. The floor is the least a durable completion writes, in plain SQL
    through the same engine: lock the instance row, read the step, update both, append an event,
    commit; what is left above it is our logic and the ORM."""
    with fresh_database(kind) as (database, _):
        with database.session() as session:
            hq = users.get_user(session, STAFF["HQ"])
            review_ids = []
            for _ in range(repeat):
                started, _ = instances.start_instance(session, "B-1", "sample_review", {}, hq)
                tasks.complete_task(session, instances.open_tasks(session, started.id)[0].id, SUBMISSION, hq)
                review_ids.append(
                    next(t.id for t in instances.open_tasks(session, started.id) if t.bpmn_id == "review_planning")
                )
        pending, statements, sent = iter(review_ids), [], 0

        def count(*_):
            nonlocal sent
            sent += 1

        event.listen(database.engine, "before_cursor_execute", count)

        def cycle():
            nonlocal sent
            sent = 1  # the commit
            with database.session() as session:
                tasks.complete_task(session, next(pending), OPINION, users.get_user(session, STAFF["PNR"]))
            statements.append(sent)

        yield cycle, _floor_cycle(database.engine), statements


def _floor_cycle(engine) -> Callable[[], None]:
    read = "SELECT state, lock_version FROM floor_instance WHERE id = 1"
    lock = text(f"{read} FOR UPDATE" if engine.dialect.name == "postgresql" else read)
    with engine.begin() as conn:
        state = conn.scalar(text("SELECT state FROM process_instance ORDER BY id LIMIT 1"))
        conn.execute(text("CREATE TABLE floor_instance (id INTEGER PRIMARY KEY, state TEXT, lock_version INTEGER)"))
        conn.execute(text("CREATE TABLE floor_task (id INTEGER PRIMARY KEY, state VARCHAR(16))"))
        conn.execute(text("CREATE TABLE floor_event (id INTEGER PRIMARY KEY, payload TEXT)"))
        conn.execute(text("INSERT INTO floor_instance VALUES (1, :state, 1)"), {"state": state})
        conn.execute(text("INSERT INTO floor_task VALUES (1, 'open')"))
    count = itertools.count(1)

    def cycle():
        n = next(count)
        with engine.begin() as conn:
            conn.execute(lock).one()
            conn.execute(text("SELECT id, state FROM floor_task WHERE id = 1")).one()
            conn.execute(text("UPDATE floor_task SET state = 'completed' WHERE id = 1"))
            conn.execute(
                text("UPDATE floor_instance SET state = :state, lock_version = lock_version + 1 WHERE id = 1"),
                {"state": state[:-8] + f"{n:08d}"},
            )
            conn.execute(text("INSERT INTO floor_event VALUES (:id, :payload)"), {"id": n, "payload": f'{{"n": {n}}}'})

    return cycle


def run(table: Table, repeat: int = 300) -> float:
    """The cycles take turns, one call each, so that the machine's drift (it is shared) falls on all
    of them alike and the ratios hold even when the absolute figures move."""
    warm_up = 20
    with (
        service_cycles("sqlite", repeat + warm_up) as sqlite,
        service_cycles("postgresql", repeat + warm_up) as postgresql,
    ):
        cycles = {
            "raw": raw_cycle(),
            "sqlite": sqlite[0],
            "postgresql": postgresql[0],
            "floor sqlite": sqlite[1],
            "floor postgresql": postgresql[1],
        }
        times: dict[str, list[float]] = {name: [] for name in cycles}
        for n in range(repeat + warm_up):
            for name, cycle in cycles.items():
                took = timed(cycle, 1)
                if n >= warm_up:
                    times[name] += took
        statements = {"sqlite": statistics.median(sqlite[2]), "postgresql": statistics.median(postgresql[2])}
    raw = median_ms(times["raw"])
    table.add("raw SpiffWorkflow cycle (in memory)", f"{raw:.2f} ms")
    for kind in ("sqlite", "postgresql"):
        ours, floor = median_ms(times[kind]), median_ms(times[f"floor {kind}"])
        table.add(
            f"approvals completion on {kind}",
            f"{ours:.2f} ms = {ours / raw:.2f}x raw, {statements[kind]:.0f} statements",
            "<= 2x raw",
            ours / raw <= 2,
        )
        table.add(f"  storage floor on {kind} (5 statements in plain SQL)", f"{floor:.2f} ms = {floor / raw:.2f}x raw")
    return raw
