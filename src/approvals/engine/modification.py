"""Instance modification: cancel live steps, start before an element, patch the data.

SpiffWorkflow has no public call for moving a token, so this module does what its own
``reset_from_task_id`` and ``migrate_workflow`` do inside: drop a task's children and give it
new ones. Two moves are possible:

- **back** to an element done earlier on the path of a live task (as a send back does, but without
  marking anything sent back);
- **forward** from a step that is cancelled in the same request: the step counts as passed and the
  element becomes its next task (a step skipped, a path taken that a gateway would not have taken).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from .data import check_safe_data

_LIVE = TaskState.READY | TaskState.WAITING | TaskState.ERROR
_DONE = TaskState.COMPLETED | TaskState.CANCELLED  # (SpiffWorkflow's FINISHED_MASK counts ERROR too)


class ModificationRefused(Exception):
    """The request names an element it cannot act on; ``field`` is the part of the request at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Modification:
    cancelled: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    data_before: dict[str, Any] = field(default_factory=dict)


def modify(workflow: BpmnWorkflow, cancel: list[str], start_before: list[str], data: dict[str, Any]) -> Modification:
    """Apply the modification to ``workflow`` in place (the caller advances it afterwards)."""
    check_safe_data(data)
    live = [task for task in workflow.get_tasks(state=_LIVE) if task.task_spec.bpmn_id]
    done = Modification()
    by_element: dict[str, list[Any]] = {}
    for task in live:
        by_element.setdefault(task.task_spec.bpmn_id, []).append(task)
    leaving = []
    for bpmn_id in cancel:
        if bpmn_id not in by_element:
            raise ModificationRefused("cancel", f"{bpmn_id!r} is not an open step, waiting event or failed element")
        leaving.extend(by_element[bpmn_id])
    for task in live:
        done.data_before.update({key: task.data.get(key) for key in data if key not in done.data_before})
        task.data.update(data)
        if task.has_state(TaskState.WAITING) and task.parent is not None:
            task.parent.data.update(data)  # a waiting event takes its parent's data again when it fires
    for bpmn_id in start_before:
        _start_before(workflow, bpmn_id, live, leaving, done)
    for task in leaving:
        if task.task_spec.bpmn_id not in done.cancelled:
            done.cancelled.append(task.task_spec.bpmn_id)
        if not task.has_state(_DONE):
            task._drop_children()
            task._set_state(TaskState.CANCELLED)  # (Task.cancel leaves a failed task as it is)
            task.task_spec._on_cancel(task)
    return done


def _start_before(
    workflow: BpmnWorkflow, bpmn_id: str, live: list[Any], leaving: list[Any], done: Modification
) -> None:
    for task in live:  # back: an element done earlier on a live task's path
        earlier = _done_before(task, bpmn_id)
        if earlier is not None:
            workflow.reset_from_task_id(earlier.id)
            done.started.append(bpmn_id)
            return
    for task in leaving:  # forward: from a step the request cancels, in the same process
        spec = task.workflow.spec.task_specs.get(_spec_name(task.workflow.spec, bpmn_id))
        if spec is None or task.has_state(_DONE):
            continue
        task._drop_children(force=True)
        task._set_state(TaskState.COMPLETED)  # passed over: its children follow from it
        child = task._add_child(spec, TaskState.FUTURE)
        spec._update(child)
        done.cancelled.append(task.task_spec.bpmn_id)
        done.started.append(bpmn_id)
        return
    raise ModificationRefused(
        "start_before",
        f"{bpmn_id!r} is neither done earlier on the path of a live step nor in the process of a step listed in "
        "'cancel' (to move forward, cancel the step the instance leaves)",
    )


def _done_before(task: Any, bpmn_id: str) -> Any:
    ancestor = task.parent
    while ancestor is not None:
        if ancestor.task_spec.bpmn_id == bpmn_id and ancestor.has_state(TaskState.COMPLETED):
            return ancestor
        ancestor = ancestor.parent
    return None


def _spec_name(spec: Any, bpmn_id: str) -> str:
    """The task spec name of element ``bpmn_id`` (they are the same for every flow element we run)."""
    for name, task_spec in spec.task_specs.items():
        if task_spec.bpmn_id == bpmn_id:
            return str(name)
    return bpmn_id
