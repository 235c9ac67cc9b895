"""Sending an instance back (退回) from an open step to an earlier step on the path already taken.

The engine moves the token back (the steps in between are dropped); the step sent from is closed
with the outcome ``sent_back`` and the reason as its opinion, other open steps in between are
cancelled, and the history records who sent it back, from where, to where and why. The step sent
from keeps the working days it used: when it becomes ready again, its agency's clock resumes with
what is left of its limit instead of starting over (the clock stops while the file is back, as
for 补正).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine.errors import EngineFailure
from ..engine.runtime import NotOnPath, TaskNotReady
from ..models import SENT_BACK, ProcessInstance, Task, User, utcnow
from . import events
from .calendar import calendar_of, counted_workdays
from .definitions import runtime_of
from .errors import Conflict, InvalidInput
from .instances import apply_engine_result, close_reminders
from .tasks import MAX_OPINION, acting_for, locked_task_and_open_items, require_workable


def send_back(session: Session, task_id: int, to_bpmn_id: str, reason: str | None,
              actor: User) -> tuple[ProcessInstance, list[Task]]:
    task, instance, open_items = locked_task_and_open_items(session, task_id, actor)
    require_workable(session, task, instance, actor)
    on_behalf_of = acting_for(session, task, actor)
    if task.kind != "step":
        raise Conflict("a reminder cannot be sent back; send back the step itself")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_OPINION:
        raise InvalidInput("sending back needs a reason", {"reason": [f"1-{MAX_OPINION} characters (退回理由)"]})
    target = session.scalar(
        select(Task).where(Task.instance_id == instance.id, Task.bpmn_id == to_bpmn_id, Task.kind == "step",
                           Task.state == "completed", Task.outcome.is_distinct_from(SENT_BACK))
        .order_by(Task.id.desc()).limit(1))
    if target is None:
        raise InvalidInput(f"{to_bpmn_id!r} is not a step this process has completed",
                           {"to_bpmn_id": ["not an earlier step of this process instance"]})

    runtime = runtime_of(session, instance.definition)
    failure = None
    try:
        workflow = runtime.send_back(runtime.load(instance.state), task.spiff_task_id, target.spiff_task_id)
    except TaskNotReady:
        raise Conflict(f"task {task.id} is not ready in the process") from None
    except NotOnPath:
        raise InvalidInput(f"“{target.name}” is not on the path that led to “{task.name}”",
                           {"to_bpmn_id": ["not on the path already taken to this step"]}) from None
    except EngineFailure as exc:
        workflow, failure = runtime.load(instance.state), exc

    now = utcnow()
    task.state = "completed"
    task.completed_at = now
    task.completed_by = actor
    task.on_behalf_of = on_behalf_of
    task.assignee = task.assignee or actor
    task.outcome = SENT_BACK
    task.opinion = reason
    task.submitted_data = {"to_bpmn_id": target.bpmn_id}
    task.counted_workdays = counted_workdays(calendar_of(session), task, now)
    if task.limit_workdays is not None:  # the share of the limit used; the rest resumes later
        task.limit_workdays = min(task.counted_workdays, task.limit_workdays)
    events.record(session, "task.sent_back", actor, instance=instance, task=task, payload={
        "bpmn_id": task.bpmn_id, "name": task.name, "to_bpmn_id": target.bpmn_id, "to_name": target.name,
        "reason": reason, "on_behalf_of": on_behalf_of.username if on_behalf_of else None})
    close_reminders(session, instance, task, actor)
    return instance, apply_engine_result(session, instance, runtime, workflow, actor, failure,
                                         cancel_reason=f"sent back to “{target.name}”", open_items=open_items)
