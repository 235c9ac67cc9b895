"""One task completion through approvals' services (a real transaction on SQLite or PostgreSQL)
against the raw SpiffWorkflow cycle in memory for the same model and state: deserialize,
complete, engine steps, serialize."""

from __future__ import annotations

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from approvals.services import instances, tasks, users

from .common import SAMPLE, STAFF, SUBMISSION, Table, fresh_database, median_ms, timed

OPINION = {"opinion": "agree"}


def raw_cycle_times(repeat: int) -> list[float]:
    """Plain SpiffWorkflow, as its documentation shows it: its parser, script engine and serializer."""
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
        review = next(t for t in loaded.get_tasks(state=TaskState.READY, manual=True)
                      if t.task_spec.bpmn_id == "review_planning")
        review.data.update(OPINION)
        review.run()
        loaded.do_engine_steps()
        serializer.serialize_json(loaded)

    timed(cycle, 20)  # warm up
    return timed(cycle, repeat)


def service_cycle_times(kind: str, repeat: int) -> list[float]:
    """``complete_task`` in its own committed transaction, each on its own instance in the same state."""
    with fresh_database(kind) as (database, _):
        with database.session() as session:
            hq = users.get_user(session, STAFF["HQ"])
            review_ids = []
            for _ in range(repeat + 20):
                started = instances.start_instance(session, "B-1", "sample_review", {}, hq)
                tasks.complete_task(session, instances.open_tasks(session, started.id)[0].id, SUBMISSION, hq)
                review_ids.append(next(t.id for t in instances.open_tasks(session, started.id)
                                       if t.bpmn_id == "review_planning"))
        pending = iter(review_ids)

        def cycle():
            with database.session() as session:
                tasks.complete_task(session, next(pending), OPINION, users.get_user(session, STAFF["PNR"]))

        timed(cycle, 20)  # warm up
        return timed(cycle, repeat)


def run(table: Table, repeat: int = 300) -> float:
    raw = median_ms(raw_cycle_times(repeat))
    table.add("raw SpiffWorkflow cycle (in memory)", f"{raw:.2f} ms")
    for kind in ("sqlite", "postgresql"):
        ours = median_ms(service_cycle_times(kind, repeat))
        table.add(f"approvals completion on {kind}", f"{ours:.2f} ms = {ours / raw:.2f}x raw", "<= 2x raw",
                  ours / raw <= 2)
    return raw
