"""Long-running instances: a loop of 1 000 rounds keeps a bounded state, while plain SpiffWorkflow's
tree would grow without end."""

from __future__ import annotations

from SpiffWorkflow.util.task import TaskState

from approvals.engine import compact as compaction

ANSWERS = {
    "submit": {"application_title": "x", "estimated_investment": 1},
    "review_planning": {"opinion": "agree"},
    "review_water": {"opinion": "agree"},
    "decide": {"decision": "return", "reason": "补正"},
}


def run_rounds(runtime, state: str, rounds: int) -> str:
    for _ in range(rounds * 4):
        workflow = runtime.load(state)
        step = runtime.ready_steps(workflow)[0]
        runtime.complete(workflow, step.task_id, ANSWERS[step.bpmn_id])
        state = runtime.dump(workflow)
    return state


def test_a_thousand_rounds_keep_the_state_bounded(runtime):
    state = runtime.dump(runtime.start({}))
    after_ten = run_rounds(runtime, state, 10)
    after_thousand = run_rounds(runtime, after_ten, 990)
    workflow = runtime.load(after_thousand)
    assert [s.bpmn_id for s in runtime.ready_steps(workflow)] == ["submit"]
    assert len(after_thousand) <= 1.5 * len(after_ten)
    assert len(workflow.tasks) < 80
    # After round 1 000 the decision can still send the file back to this round's submission.
    for bpmn_id in ("submit", "review_planning", "review_water"):
        step = next(s for s in runtime.ready_steps(workflow) if s.bpmn_id == bpmn_id)
        runtime.complete(workflow, step.task_id, ANSWERS[bpmn_id])
    (decide,) = runtime.ready_steps(workflow)
    submit = max(
        (t for t in workflow.tasks.values() if t.task_spec.bpmn_id == "submit" and t.state == TaskState.COMPLETED),
        key=lambda t: t.depth,
    )
    sent = runtime.load(runtime.dump(runtime.send_back(workflow, decide.task_id, str(submit.id))))
    assert [s.bpmn_id for s in runtime.ready_steps(sent)] == ["submit"]


def test_without_compaction_the_tree_grows_every_round(runtime, monkeypatch):
    monkeypatch.setattr(compaction, "SLACK", 10**6)
    state = run_rounds(runtime, runtime.dump(runtime.start({})), 30)
    assert len(runtime.load(state).tasks) > 250
