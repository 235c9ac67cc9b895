"""Sending an instance back (退回) from an open step to an earlier step on the path already taken.

The engine moves the token back (the steps in between are dropped); the step sent from is closed
with the outcome ``sent_back`` and the reason as its opinion, other open steps in between are
cancelled, and the history records who sent it back, from where, to where and why. The step sent
from keeps the working days it used: when it becomes ready again, its agency's clock resumes with
what is left of its limit instead of starting over (the clock stops while the file is back, as
for 补正).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..engine.runtime import NotOnPath, TaskNotReady
from ..engine.warm import WARM
from ..models import SENT_BACK, InstanceStatus, Outcome, ProcessInstance, Task, TaskKind, TaskState, User
from ..text import msg
from .definitions import runtime_of
from .errors import Conflict, InvalidInput
from .instance_change import changing_task, open_tasks
from .tasks import MAX_OPINION, acting_for, require_workable


def send_back(
    session: Session, task_id: int, to_bpmn_id: str, reason: str | None, actor: User
) -> tuple[ProcessInstance, list[Task]]:
    with changing_task(session, task_id, actor) as change:
        task, instance = change.task, change.instance
        require_workable(session, task, instance, actor)
        on_behalf_of = acting_for(session, task, actor)
        if not task.is_step:
            raise Conflict(msg("a reminder cannot be sent back; send back the step itself"))
        reason = (reason or "").strip()
        if not reason or len(reason) > MAX_OPINION:
            raise InvalidInput(
                msg("sending back needs a reason"),
                {"reason": [msg("1-{MAX_OPINION} characters (退回理由)", MAX_OPINION=MAX_OPINION)]},
            )
        target = session.scalar(
            select(Task)
            .where(
                Task.instance_id == instance.id,
                Task.bpmn_id == to_bpmn_id,
                Task.kind == TaskKind.STEP,
                Task.finished_normally,
            )
            .order_by(Task.id.desc())
            .limit(1)
        )
        if target is None:
            raise InvalidInput(
                msg("{to_bpmn_id!r} is not a step this process has completed", to_bpmn_id=to_bpmn_id),
                {"to_bpmn_id": [msg("not an earlier step of this process instance")]},
            )

        def move_back(workflow: Any) -> None:
            change.workflow = change.runtime.send_back(workflow, task.spiff_task_id, target.spiff_task_id)

        try:
            change.advance(move_back)
        except TaskNotReady:
            raise Conflict(msg("task {task_id} is not ready in the process", task_id=task.id)) from None
        except NotOnPath:
            raise InvalidInput(
                msg("“{name}” is not on the path that led to “{name2}”", name=target.name, name2=task.name),
                {"to_bpmn_id": [msg("not on the path already taken to this step")]},
            ) from None
        if change.failure is not None:  # keep the instance as it was, in error
            change.workflow = change.runtime.load(instance.state)
        change.close_step(
            task,
            outcome=Outcome.SENT_BACK,
            opinion=reason,
            submitted_data={"to_bpmn_id": target.bpmn_id},
            on_behalf_of=on_behalf_of,
            event="task.sent_back",
            payload={"to_bpmn_id": target.bpmn_id, "to_name": target.name, "reason": reason},
        )
        if task.limit_workdays is not None:  # the share of the limit used; the rest resumes later
            task.limit_workdays = min(task.counted_workdays or 0, task.limit_workdays)
        change.cancel_reason = msg("sent back to “{name}”", name=target.name)
    return change.instance, change.open_after


@dataclass(frozen=True)
class Target:
    """A step an open step may be sent back to, and the other open steps that would be cancelled
    (parallel branches started after it, at their agencies)."""

    bpmn_id: str
    name: str
    agency_code: str
    cancels: list[Task]


def targets(session: Session, task: Task) -> list[Target]:
    """Where ``task`` may be sent back to, nearest first: the completed steps on the path that led
    to it, as the engine will accept them (one per step, its latest run)."""
    instance = task.instance
    if not task.is_step or not task.is_open or instance.status != InstanceStatus.RUNNING:
        return []
    open_rows = {t.spiff_task_id: t for t in open_tasks(session, instance.id, TaskKind.STEP) if t.id != task.id}
    runtime = runtime_of(session, instance.definition)
    with WARM.lent(instance.id, instance.state, runtime) as workflow:  # warm for the send back or completion next
        candidates = runtime.send_back_targets(workflow, task.spiff_task_id, list(open_rows))
    if not candidates:
        return []
    # The runs of the steps the engine names, by its task ids (a step sent back to runs again under
    # its id), not the instance's whole history; the latest finished run of each. Checked on the
    # rows, not in the statement: asked for the instance too, SQLite reads all of its steps through
    # their (instance, state) index rather than look a few ids up.
    runs = session.scalars(select(Task).where(Task.spiff_task_id.in_([spiff_id for spiff_id, _ in candidates])))
    completed = {
        t.spiff_task_id: t
        for t in sorted(runs, key=lambda t: t.id)
        if t.instance_id == instance.id and t.is_step and t.finished_normally
    }
    found: list[Target] = []
    for spiff_id, cancelled in candidates:
        row = completed.get(spiff_id)
        if row is not None and all(t.bpmn_id != row.bpmn_id for t in found):
            found.append(Target(row.bpmn_id, row.name, row.agency_code, [open_rows[i] for i in cancelled]))
    return found


@dataclass(frozen=True)
class Returned:
    """Why a step is open again: who sent the file back to it, when and why, and what the step
    answered the time before (to start from)."""

    by: str
    at: datetime
    reason: str
    from_name: str
    earlier: dict[str, Any]


def returned(session: Session, task: Task) -> Returned | None:
    """For an open step that a send back reopened: who sent it back and why, with the answers of
    its previous run."""
    if not task.is_open or not task.is_step:
        return None
    before = session.scalar(
        select(Task)
        .where(
            Task.instance_id == task.instance_id,
            Task.bpmn_id == task.bpmn_id,
            Task.state == TaskState.COMPLETED,
            Task.id < task.id,
        )
        .order_by(Task.id.desc())
        .limit(1)
    )
    if before is None or before.completed_at is None:
        return None
    # The send backs since its previous run ended, latest first: through their partial index (the
    # outcome named in the SQL text), not the instance's whole audit trail. A step sent back records
    # where to, why (its opinion), by whom and when.
    sent = session.scalars(
        select(Task)
        .where(
            Task.instance_id == task.instance_id,
            Task.outcome == SENT_BACK,
            Task.completed_at >= before.completed_at,
        )
        .options(joinedload(Task.completed_by))
        .order_by(Task.id.desc())
    )
    sender = next((t for t in sent if (t.submitted_data or {}).get("to_bpmn_id") == task.bpmn_id), None)
    if sender is None or sender.completed_at is None:
        return None
    actor = sender.completed_by
    return Returned(
        by=f"{actor.display_name or actor.username} ({actor.agency_code})" if actor else "",
        at=sender.completed_at,
        reason=sender.opinion or "",
        from_name=sender.name,
        earlier=dict(before.submitted_data or {}),
    )
