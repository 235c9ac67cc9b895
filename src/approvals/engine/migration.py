"""Moving a running workflow onto another published version of its model.

Built on SpiffWorkflow's diff utilities: ``diff_workflow`` aligns each task of the workflow (and of
its called processes) with the new version's elements, ``migrate_workflow`` points the tasks at
the new specs and predicts again what follows the live ones. Around it, what the service needs:

- a migration is refused, naming the element, when a live task's element is removed, changes
  type, or (a person's step) moves to another lane: its agency would change under the people on it;
- what SpiffWorkflow resets is put back: live steps keep their data, waiting timers keep the time
  they are due (the clock carries over, it does not restart);
- finished tasks whose element the new version removed are cut out of the tree (their children
  hang from their parent instead): the saved state names every task's element, and the history
  of what was done stays in the task rows and events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from ..text import msg
from .serializer import REGISTRY, workflow_from_json, workflow_to_json

_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_KEPT = TaskState.READY | TaskState.WAITING  # what migrate_workflow resets and we restore


@dataclass
class MigrationResult:
    """What moving one workflow found: reasons it cannot move (then nothing was changed that
    counts: the caller drops the workflow), and the live steps whose element was renamed."""

    blocked: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # bpmn id -> new name


def migrate(
    workflow: BpmnWorkflow,
    spec: Any,
    subprocess_specs: dict[str, Any],
    same_agency: Callable[[str | None, str | None], bool] = lambda old, new: old == new,
) -> MigrationResult:
    """Move ``workflow`` (in place) onto ``spec`` and ``subprocess_specs``; see the module's text.
    ``same_agency`` says whether two lanes give a step to the same agency (a renamed lane may)."""
    result = MigrationResult()
    top_diff, sub_diffs = diff_workflow(REGISTRY, workflow, spec, subprocess_specs)
    trees = [(workflow, top_diff, spec)]
    for task_id, subprocess in workflow.subprocesses.items():
        diff = sub_diffs.get(task_id)
        if diff is None:
            if subprocess.get_tasks(state=_LIVE):
                result.blocked.append(
                    msg("called process {name!r} is running and is not in the new version", name=subprocess.spec.name)
                )
            continue
        trees.append((subprocess, diff, subprocess_specs[subprocess.spec.name]))
    for _tree, diff, _spec in trees:
        result.blocked.extend(_blocking(diff, same_agency))
    if result.blocked:
        return result

    kept = {task.id: (task.state, task.data, dict(task.internal_data)) for task in workflow.get_tasks(state=_KEPT)}
    for tree, diff, new_spec in trees:
        for task in diff.changed:
            if task.has_state(TaskState.READY) and task.task_spec.manual:
                new_name = diff.alignment[task].bpmn_name or ""
                if new_name != (task.task_spec.bpmn_name or ""):
                    result.renamed[task.task_spec.bpmn_id] = new_name
        migrate_workflow(diff, tree, new_spec)
        _cut_removed(tree, new_spec)
    workflow.subprocess_specs = subprocess_specs
    for task_id, (state, data, internal) in kept.items():
        task = workflow.get_task_from_id(task_id) if _present(workflow, task_id) else None
        if task is None:
            continue
        task.data = data
        if state == TaskState.WAITING:  # the timer is due when it was, not again from now
            task.internal_data.update({k: v for k, v in internal.items() if k.startswith("event_")})
        if task.state != state:
            task._set_state(state)
    # The saved form must load onto the new version: a last check before anything is kept.
    try:
        workflow_from_json(workflow_to_json(workflow), spec, subprocess_specs, workflow.script_engine)
    except Exception as exc:  # noqa: BLE001 - any failure to reload means the instance cannot move
        result.blocked.append(
            msg("the moved instance does not load on the new version: {name}: {exc}", name=type(exc).__name__, exc=exc)
        )
    return result


def _blocking(diff: Any, same_agency: Callable[[str | None, str | None], bool]) -> list[str]:
    reasons: list[str] = []
    for task in diff.removed:
        if task.has_state(_LIVE):
            reasons.append(
                msg("{label} is {state} and the new version removes it", label=_label(task), state=_state(task))
            )
    for task in diff.changed:
        if not task.has_state(_LIVE):
            continue
        new = diff.alignment[task]
        if type(new) is not type(task.task_spec):
            reasons.append(
                msg(
                    "{label} is {state} and the new version makes it a {kind}",
                    label=_label(task),
                    state=_state(task),
                    kind=_kind(new),
                )
            )
        elif task.task_spec.manual and not same_agency(task.task_spec.lane, getattr(new, "lane", None)):
            reasons.append(
                msg(
                    "{label} is open in lane {lane!r} and the new version moves it to lane {new_lane!r}: "
                    "complete it first",
                    label=_label(task),
                    lane=task.task_spec.lane,
                    new_lane=getattr(new, "lane", None),
                )
            )
    return reasons


def _cut_removed(tree: Any, spec: Any) -> None:
    """Finished tasks whose element is gone: their children are hung from their parent instead."""
    for task in list(tree.tasks.values()):
        if spec.task_specs.get(task.task_spec.name) is task.task_spec or task.parent is None:
            continue
        parent = task.parent
        index = parent._children.index(task.id)
        parent._children[index : index + 1] = task._children
        for child in task.children:
            child._parent = parent.id
        del tree.tasks[task.id]
        if tree.last_task is task:
            tree.last_task = parent
    # Called processes started by a task cut away go with it.
    top = tree.top_workflow if hasattr(tree, "top_workflow") else tree
    for task_id, subprocess in list(top.subprocesses.items()):
        if subprocess.parent_task_id is not None and not _present(top, subprocess.parent_task_id):
            del top.subprocesses[task_id]


def _present(workflow: Any, task_id: Any) -> bool:
    try:
        workflow.get_task_from_id(task_id)
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises its TaskNotFoundException
        return False
    return True


def _label(task: Any) -> str:
    spec = task.task_spec
    return f"{spec.bpmn_id} ({spec.bpmn_name})" if spec.bpmn_name else str(spec.bpmn_id)


def _state(task: Any) -> str:
    return {TaskState.READY: "open", TaskState.WAITING: "waiting", TaskState.ERROR: "failed"}.get(task.state, "running")


def _kind(spec: Any) -> str:
    return str(getattr(spec, "bpmn_type", None) or type(spec).__name__)
