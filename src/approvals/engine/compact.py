"""Keep long-running instances small: drop finished history far above the live tasks.

SpiffWorkflow keeps every task it ever ran in the workflow's tree, so each round of a loop (补正,
a reminder cycle) adds depth and records: state size and step cost grow with every round, and
near a few hundred rounds the engine fails. Our audit trail (the event table and the task rows)
holds the history, so the live state need not. When the live tasks sit more than
``KEEP_DEPTH + SLACK`` levels below the root, the finished chain above them is cut back to
``KEEP_DEPTH`` levels; what is kept is still enough to send an instance back within its round.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState

# Finished levels kept above the live tasks (the sample review's loop is about 8 levels a round,
# so a step can still be sent back to the previous round), and how far the history may grow past
# that before it is cut again (cutting is cheap, so often).
KEEP_DEPTH = 12
SLACK = 8


def compact(workflow: Any) -> int:
    """Cut old finished history from the workflow and its called processes; returns tasks removed."""
    removed = _compact_tree(workflow)
    for subprocess in list(workflow.subprocesses.values()):
        removed += _compact_tree(subprocess)
    if removed:
        _drop_orphan_subprocesses(workflow)
    return removed


def _path(task: Any) -> list[Any]:
    path = []
    while task is not None:
        path.append(task)
        task = task.parent
    path.reverse()
    return path


def _compact_tree(tree: Any) -> int:
    live = [t for t in tree.tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not live:
        return 0
    common = _path(live[0])
    if len(common) - 1 <= KEEP_DEPTH + SLACK:  # the common ancestor is no deeper: nothing to cut
        return 0
    for task in live[1:]:
        other = _path(task)
        size = 0
        while size < min(len(common), len(other)) and common[size] is other[size]:
            size += 1
        common = common[:size]
    depth = len(common) - 1  # of the deepest task above every live one
    if depth <= KEEP_DEPTH + SLACK:
        return 0
    root, anchor = common[0], common[depth - KEEP_DEPTH]
    keep = {root.id}
    stack = [anchor]
    while stack:
        task = stack.pop()
        keep.add(task.id)
        stack.extend(task.children)
    root._children = [anchor.id]
    anchor._parent = root.id
    gone = [task_id for task_id in tree.tasks if task_id not in keep]
    for task_id in gone:
        del tree.tasks[task_id]
    if tree.last_task is not None and tree.last_task.id not in keep:
        tree.last_task = None
    return len(gone)


def _drop_orphan_subprocesses(workflow: Any) -> None:
    """Called processes whose call activity was cut away go with it (and theirs with them)."""
    changed = True
    while changed:
        changed = False
        for task_id, subprocess in list(workflow.subprocesses.items()):
            caller = subprocess.parent_workflow
            if caller is None or task_id not in caller.tasks:
                del workflow.subprocesses[task_id]
                changed = True
