"""A task completion and an instance start through approvals' services (a real transaction on
SQLite or PostgreSQL) against the floor no design can go under: the raw SpiffWorkflow cycle in
memory for the same model and state (deserialize, complete, engine steps, serialize; or create,
engine steps, serialize) plus the storage floor (the least a durable change writes, in plain SQL
through the same engine). The cycles take turns, one call each, so the shared machine's drift
falls on all of them alike."""

from __future__ import annotations

import gc
import itertools
import statistics
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, text

from approvals.engine.warm import SIZE, WARM
from approvals.services import instances, tasks, users

from . import rows_prototype
from .common import SAMPLE, STAFF, SUBMISSION, Table, fresh_database, median_ms, timed

OPINION = {"opinion": "agree"}
COMPLETION_TARGET, START_TARGET = 1.25, 1.5  # × (raw + floor), issue 19
SERVICE_CYCLES = (
    "complete",
    "complete warm",
    "start",
    "floor complete",
    "floor start",
    "complete on rows",
    "start on rows",
)


def raw_cycles() -> tuple[Callable[[], None], Callable[[], None]]:
    """Plain SpiffWorkflow, as its documentation shows it: its parser, script engine and serializer.
    Returns (one completion cycle on the saved state of the sample model's PNR review, one start:
    a new workflow run to its first step and serialized)."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(SAMPLE))
    spec, subprocesses = parser.get_spec("sample_review"), parser.get_subprocess_specs("sample_review")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def start() -> BpmnWorkflow:
        workflow = BpmnWorkflow(spec, subprocesses)
        workflow.do_engine_steps()
        serializer.serialize_json(workflow)
        return workflow

    workflow = start()
    (submit,) = workflow.get_tasks(state=TaskState.READY, manual=True)
    submit.data.update(SUBMISSION)
    submit.run()
    workflow.do_engine_steps()
    state = serializer.serialize_json(workflow)

    def complete():
        loaded = serializer.deserialize_json(state)
        review = next(
            t for t in loaded.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == "review_planning"
        )
        review.data.update(OPINION)
        review.run()
        loaded.do_engine_steps()
        serializer.serialize_json(loaded)

    return complete, start


@contextmanager
def service_cycles(kind: str, repeat: int) -> Iterator[dict[str, Any]]:
    """On a fresh database of ``kind``, the cycles by name: ``complete`` (``complete_task`` in its
    own committed transaction, each call on another instance in the same state, read from the
    database), ``complete warm`` (the same on instances this process changed last, so their
    workflows are kept warm: engine/warm.py), ``start`` (``start_instance`` likewise), their
    storage floors, and ``complete on rows`` and ``start on rows`` (the same work without ORM
    objects: rows_prototype.py, the completion cold; each checked first against the service on a
    twin); ``statements`` lists what each completion sent, commit included.

    Workflows are kept as a process serving this database keeps them: what each cycle changes, in
    a store of this database's own bounded as the service's (``SIZE``), older ones dropped (the
    benchmark runs two databases, whose instance ids coincide); the warm cycle's instances in one
    more store, which nothing else pushes them out of. (With one store for all, what the other
    cycles kept pushed the warm instances out after about six rounds, and the "warm" cycle loaded
    its state, as in the eighth and ninth sessions' runs.)"""
    with fresh_database(kind) as (database, _):
        process, warm_store = Kept(OrderedDict(), SIZE), Kept(OrderedDict(), repeat + 10)
        with database.session() as session:
            hq = users.get_user(session, STAFF["HQ"])
            reviews = []
            for n in range(3 * repeat + 2):
                with kept_in(warm_store if repeat <= n < 2 * repeat else process):
                    started, _ = instances.start_instance(session, "B-1", "sample_review", {}, hq)
                    tasks.complete_task(session, instances.open_tasks(session, started.id)[0].id, SUBMISSION, hq)
                review = next(t for t in instances.open_tasks(session, started.id) if t.bpmn_id == "review_planning")
                reviews.append((review.id, started.id))
        cold, warm, statements, sent = iter(reviews[:repeat]), iter(reviews[repeat : 2 * repeat]), [], 0
        on_rows = iter(reviews[2 * repeat :])

        def count(*_):
            nonlocal sent
            sent += 1

        event.listen(database.engine, "before_cursor_execute", count)

        def complete(task_id: int) -> None:
            with database.session() as session:
                tasks.complete_task(session, task_id, OPINION, users.get_user(session, STAFF["PNR"]))

        def completion(pending: Iterator[tuple[int, int]], cold: bool) -> Callable[[], None]:
            def cycle():
                nonlocal sent
                task_id, instance_id = next(pending)
                if cold:  # read from the database, even if this process still kept it
                    WARM.forget(instance_id)
                sent = 1  # the commit
                complete(task_id)
                statements.append(sent)

            return cycle

        def start() -> int:
            with database.session() as session:
                hq = users.get_user(session, STAFF["HQ"])
                return instances.start_instance(session, "B-1", "sample_review", {}, hq)[0].id

        floor_complete, floor_start = _floors(database.engine)
        prototype = rows_prototype.completion(database, STAFF["PNR"], OPINION)

        def rows_cycle() -> None:
            task_id, instance_id = next(on_rows)
            WARM.forget(instance_id)
            prototype(task_id)

        with kept_in(process):
            rows_prototype.twin_check(database, complete, prototype, (task_id for task_id, _ in on_rows))
            start_on_rows = rows_prototype.start(database, STAFF["HQ"], "B-1", "sample_review")
            rows_prototype.twin_check_start(database, start, lambda: start_on_rows({}))
        yield {
            "complete": keeping_in(process, completion(cold, cold=True)),
            "complete warm": keeping_in(warm_store, completion(warm, cold=False)),
            "start": keeping_in(process, start),
            "floor complete": floor_complete,
            "floor start": floor_start,
            "complete on rows": keeping_in(process, rows_cycle),
            "start on rows": keeping_in(process, lambda: start_on_rows({})),
            "statements": statements,
        }


class Kept(NamedTuple):
    """A store of kept workflows and how many it holds (``engine/warm.py``)."""

    workflows: OrderedDict[int, Any]
    size: int


@contextmanager
def kept_in(store: Kept) -> Iterator[None]:
    """Workflows are kept in (and taken from) ``store`` meanwhile."""
    saved = WARM._kept, WARM.size  # private: the benchmark's own stores, see service_cycles
    WARM._kept, WARM.size = store
    try:
        yield
    finally:
        WARM._kept, WARM.size = saved


def keeping_in(store: Kept, cycle: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with kept_in(store):
            cycle()

    return run


def _floors(engine) -> tuple[Callable[[], None], Callable[[], None]]:
    """The least a durable completion writes (lock the instance row, read the step, update both,
    append an event, commit) and the least a start writes (insert the instance, its first step and
    an event, commit), in plain SQL."""
    read = "SELECT state, lock_version FROM floor_instance WHERE id = 1"
    lock = text(f"{read} FOR UPDATE" if engine.dialect.name == "postgresql" else read)
    with engine.begin() as conn:
        state = conn.scalar(text("SELECT state FROM process_instance ORDER BY id LIMIT 1"))
        conn.execute(text("CREATE TABLE floor_instance (id INTEGER PRIMARY KEY, state TEXT, lock_version INTEGER)"))
        conn.execute(text("CREATE TABLE floor_task (id INTEGER PRIMARY KEY, state VARCHAR(16))"))
        conn.execute(text("CREATE TABLE floor_event (id INTEGER PRIMARY KEY, payload TEXT)"))
        conn.execute(text("INSERT INTO floor_instance VALUES (1, :state, 1)"), {"state": state})
        conn.execute(text("INSERT INTO floor_task VALUES (1, 'open')"))
    count = itertools.count(2)

    def complete():
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

    def start():
        n = next(count)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO floor_instance VALUES (:id, :state, 1)"), {"id": n, "state": state})
            conn.execute(text("INSERT INTO floor_task VALUES (:id, 'open')"), {"id": n})
            conn.execute(text("INSERT INTO floor_event VALUES (:id, :payload)"), {"id": n, "payload": f'{{"n": {n}}}'})

    return complete, start


def run(table: Table, repeat: int = 300) -> float:
    """The cycles take turns, one call each, so that the machine's drift (it is shared) falls on all
    of them alike and the ratios hold even when the absolute figures move. Returns the raw
    completion cycle's median (ms)."""
    warm_up = 20
    raw_complete, raw_start = raw_cycles()
    with service_cycles("sqlite", repeat + warm_up) as sqlite, service_cycles("postgresql", repeat + warm_up) as pg:
        cycles = {"raw complete": raw_complete, "raw start": raw_start}
        for kind, ours in (("sqlite", sqlite), ("postgresql", pg)):
            cycles.update({f"{name} {kind}": ours[name] for name in SERVICE_CYCLES})
        times: dict[str, list[float]] = {name: [] for name in cycles}
        # Python's collector is kept out of the timed calls, as timeit does, and run every ten
        # rounds between them. Left on, it ran at the same place in every round (a round makes
        # about as many objects every time) and one cycle paid for all of it (bench/README.md).
        gc.disable()
        try:
            for n in range(repeat + warm_up):
                if n % 10 == 0:
                    gc.collect()
                for name, cycle in cycles.items():
                    took = timed(cycle, 1)
                    if n >= warm_up:
                        times[name] += took
        finally:
            gc.enable()
        statements = {
            "sqlite": statistics.median(sqlite["statements"]),
            "postgresql": statistics.median(pg["statements"]),
        }
    raw = {what: median_ms(times[f"raw {what}"]) for what in ("complete", "start")}
    table.add("raw SpiffWorkflow completion cycle (in memory)", f"{raw['complete']:.2f} ms")
    table.add("raw SpiffWorkflow start (in memory)", f"{raw['start']:.2f} ms")
    for kind in ("sqlite", "postgresql"):
        for what, target in (
            ("complete", COMPLETION_TARGET),
            ("complete warm", COMPLETION_TARGET),
            ("start", START_TARGET),
        ):
            ours = median_ms(times[f"{what} {kind}"])
            floor = median_ms(times[f"floor {what.split()[0]} {kind}"])
            ratio = ours / (raw[what.split()[0]] + floor)
            said = f", {statements[kind]:.0f} statements" if what == "complete" else ""
            label = {"complete": "completion", "complete warm": "completion, workflow warm", "start": "start"}[what]
            table.add(
                f"approvals {label} on {kind}",
                f"{ours:.2f} ms = {ratio:.2f}x (raw {raw[what.split()[0]]:.2f} + floor {floor:.2f}){said}",
                f"<= {target}x raw+floor",
                ratio <= target,
            )
        for what in ("complete", "start"):  # no target: what the rewrite asked of the team could reach
            on_rows, floor = median_ms(times[f"{what} on rows {kind}"]), median_ms(times[f"floor {what} {kind}"])
            ratio = on_rows / (raw[what] + floor)
            table.add(
                f"{'completion' if what == 'complete' else what} on Core rows, no ORM objects "
                f"(prototype: bench/rows_prototype.py) on {kind}",
                f"{on_rows:.2f} ms = {ratio:.2f}x (raw {raw[what]:.2f} + floor {floor:.2f})",
            )
    return raw["complete"]


def raw_cycle_times(repeat: int) -> list[float]:
    """Seconds per raw completion cycle (after a warm-up), for the throughput's rate."""
    cycle, _ = raw_cycles()
    timed(cycle, 20)
    return timed(cycle, repeat)
