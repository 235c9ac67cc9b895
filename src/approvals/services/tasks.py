"""Work items: the inbox, claim, unclaim, assign and complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..engine.data import plain_json
from ..engine.errors import EngineFailure
from ..engine.runtime import TaskNotReady
from ..models import SENT_BACK, Material, ProcessDefinition, ProcessInstance, Project, Task, User, utcnow
from . import events, materials, substitutes
from .authz import READ_ALL_ROLES, WORK_ROLES, can_assign, can_read_agency, can_read_task, can_work_on, require
from .calendar import calendar_of, counted_workdays
from .definitions import form_schema, runtime_of
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .forms import outcome_of, validate_submission
from .instances import OPEN_STATES, apply_engine_result, close_reminders, lock_instance, open_tasks, task_and_open_items
from .users import get_user

TASK_LOADS = (
    joinedload(Task.instance).joinedload(ProcessInstance.project),
    joinedload(Task.instance).joinedload(ProcessInstance.definition),
    joinedload(Task.assignee),
    joinedload(Task.completed_by),
)


def get_task(session: Session, task_id: int, actor: User) -> Task:
    task = session.scalar(select(Task).where(Task.id == task_id).options(*TASK_LOADS))
    if task is None:
        raise NotFound(f"task {task_id} not found")
    require(can_read_task(actor, task), f"task {task_id} belongs to agency {task.agency_code}")
    return task


def form_of(task: Task) -> dict[str, Any] | None:
    return form_schema(task.instance.definition, task.form)


@dataclass(frozen=True)
class InboxQuery:
    agency: str | None = None
    assignee_me: bool = False
    state: str = "active"  # active = open or claimed
    project: str | None = None
    process: str | None = None  # a process key
    overdue: bool | None = None
    page: int = 1
    page_size: int = 50


TASK_FILTER_STATES = ("active", "open", "claimed", "completed", "cancelled", "all")


def inbox(session: Session, actor: User, query: InboxQuery) -> tuple[list[Task], int]:
    """Tasks for an agency (the caller's by default); staff see only their own agency's."""
    agency = query.agency
    if agency is None and actor.role not in READ_ALL_ROLES:
        agency = actor.agency_code
    if agency is not None:
        require(can_read_agency(actor, agency), f"you may not read the inbox of agency {agency}")
    stmt = select(Task)
    if agency is not None:
        stmt = stmt.where(Task.agency_code == agency)
    if query.assignee_me:  # mine, and those of colleagues I stand in for today
        stmt = stmt.where(Task.assignee_id.in_([actor.id, *substitutes.absent_users_for(session, actor)]))
    if query.state == "active":
        stmt = stmt.where(Task.state.in_(OPEN_STATES))
    elif query.state != "all":
        stmt = stmt.where(Task.state == query.state)
    if query.project:
        stmt = stmt.join(ProcessInstance, Task.instance_id == ProcessInstance.id).join(
            Project, ProcessInstance.project_id == Project.id).where(Project.code == query.project)
    if query.process:
        stmt = stmt.where(Task.instance_id.in_(
            select(ProcessInstance.id).join(ProcessDefinition, ProcessInstance.definition_id == ProcessDefinition.id)
            .where(ProcessDefinition.key == query.process)))
    if query.overdue is not None:
        now = utcnow()
        late = (Task.due_at.is_not(None)) & (Task.due_at < now) & (Task.state.in_(OPEN_STATES))
        stmt = stmt.where(late if query.overdue else ~late)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.options(*TASK_LOADS).order_by(Task.due_at.is_(None), Task.due_at, Task.id)
        .offset((query.page - 1) * query.page_size).limit(query.page_size)
    )
    return list(rows.unique()), total


def locked_task(session: Session, task_id: int, actor: User) -> tuple[Task, ProcessInstance]:
    """Lock the task's instance, then read the task under that lock and check the caller may see it
    (two statements: the lock finds the instance through the task)."""
    task, instance, _ = locked_task_and_open_items(session, task_id, actor)
    return task, instance


def locked_task_and_open_items(session: Session, task_id: int,
                               actor: User) -> tuple[Task, ProcessInstance, list[Task]]:
    """``locked_task``, with the instance's open items as read in the same statement as the task
    (what a step that moves the engine reconciles its rows against)."""
    instance = lock_instance(session, task_of=task_id)
    task, items = task_and_open_items(session, instance.id, task_id) if instance is not None else (None, [])
    if task is None:
        raise NotFound(f"task {task_id} not found")
    require(can_read_task(actor, task), f"task {task_id} belongs to agency {task.agency_code}")
    return task, instance, items


def acting_for(session: Session, task: Task, actor: User) -> User | None:
    """Whom ``actor`` acts for on this step: None when it is unclaimed or theirs, the holder who
    delegated it to them, or the absent assignee they stand in for; 409 when it is someone else's."""
    if task.assignee_id is None:
        return None
    if task.assignee_id == actor.id:
        return task.delegated_by
    if substitutes.stands_in_for(session, actor, task.assignee_id):
        return task.assignee
    raise Conflict(f"task {task.id} is claimed by {task.assignee.username}")


def require_workable(session: Session, task: Task, instance: ProcessInstance, actor: User) -> None:
    require(can_work_on(actor, task), f"only staff of agency {task.agency_code} may work on this task")
    if task.state not in OPEN_STATES:
        raise Conflict(f"task {task.id} is {task.state}")
    if instance.status != "running":
        raise Conflict(f"the process instance is {instance.status}")
    _require_other_eyes(session, task, actor)


def _require_other_eyes(session: Session, task: Task, user: User) -> None:
    """Four eyes: the person who completed an excluded earlier step may not do this one."""
    if not task.excluded_steps:
        return
    done = session.scalar(select(Task.name).where(
        Task.instance_id == task.instance_id, Task.bpmn_id.in_(task.excluded_steps),
        Task.state == "completed", Task.outcome.is_distinct_from(SENT_BACK),
        Task.completed_by_id == user.id).limit(1))
    if done is not None:
        raise Forbidden(f"four eyes: {user.username} completed “{done}” and may not also do “{task.name}”")


def claim_task(session: Session, task_id: int, actor: User) -> Task:
    task, instance = locked_task(session, task_id, actor)
    require_workable(session, task, instance, actor)
    if task.assignee_id == actor.id:
        return task
    if task.assignee_id is not None:
        raise Conflict(f"task {task.id} is already claimed by {task.assignee.username}")
    _assign(task, instance, actor)
    events.record(session, "task.claimed", actor, instance=instance, task=task)
    session.flush()
    return task


def unclaim_task(session: Session, task_id: int, actor: User) -> Task:
    task, instance = locked_task(session, task_id, actor)
    if task.state != "claimed":
        raise Conflict(f"task {task.id} is {task.state}, not claimed")
    require(task.assignee_id == actor.id or can_assign(actor, task)
            or substitutes.stands_in_for(session, actor, task.assignee_id),
            "only the assignee, their substitute or a lead of the agency may release a task")
    previous = task.assignee.username if task.assignee else None
    task.assignee = None
    task.delegated_by = None
    task.state = "open"
    task.claimed_at = None
    instance.updated_at = utcnow()
    events.record(session, "task.unclaimed", actor, instance=instance, task=task, payload={"from": previous})
    session.flush()
    return task


def assign_task(session: Session, task_id: int, username: str, actor: User) -> Task:
    task, instance = locked_task(session, task_id, actor)
    require(can_assign(actor, task), "only a lead of the task's agency may assign it")
    if task.state not in OPEN_STATES:
        raise Conflict(f"task {task.id} is {task.state}")
    if instance.status != "running":
        raise Conflict(f"the process instance is {instance.status}")
    target = get_user(session, username or "")
    if target is None or not target.active:
        raise InvalidInput(f"no active user {username!r}", {"username": ["unknown user"]})
    _require_may_take(session, task, target)
    previous = task.assignee.username if task.assignee else None
    _assign(task, instance, target)
    task.delegated_by = None
    events.record(session, "task.assigned", actor, instance=instance, task=task,
                  payload={"from": previous, "to": target.username})
    session.flush()
    return task


def _require_may_take(session: Session, task: Task, target: User) -> None:
    """A step handed to someone (assigned, delegated) must go to staff or a lead of its agency who
    passes its four-eyes rule; the error names the ``username`` field."""
    if target.agency_code != task.agency_code or target.role not in WORK_ROLES:
        raise InvalidInput(f"{target.username} cannot work on tasks of agency {task.agency_code}",
                           {"username": [f"must be staff or a lead of agency {task.agency_code}"]})
    try:
        _require_other_eyes(session, task, target)
    except Forbidden as exc:
        raise InvalidInput(exc.message, {"username": [exc.message]}) from None


def delegate_task(session: Session, task_id: int, username: str, actor: User) -> Task:
    """The holder of a claimed step hands it to a colleague of the agency, and may recall it."""
    task, instance = locked_task(session, task_id, actor)
    require_workable(session, task, instance, actor)
    if task.assignee_id != actor.id:
        raise Conflict(f"only the holder of task {task.id} may delegate it; claim it first")
    if task.delegated_by_id is not None:
        raise Conflict(f"task {task.id} was delegated to you by {task.delegated_by.username}; "
                       "hand it back instead of passing it on")
    target = get_user(session, username or "")
    if target is None or not target.active or target.id == actor.id:
        raise InvalidInput(f"no colleague {username!r} to delegate to", {"username": ["unknown user, or yourself"]})
    _require_may_take(session, task, target)
    _assign(task, instance, target)
    task.delegated_by = actor
    events.record(session, "task.delegated", actor, instance=instance, task=task,
                  payload={"from": actor.username, "to": target.username})
    session.flush()
    return task


def recall_task(session: Session, task_id: int, actor: User) -> Task:
    """End a delegation: the delegator takes the step back (or the delegate hands it back)."""
    task, instance = locked_task(session, task_id, actor)
    if actor.id not in (task.delegated_by_id, task.assignee_id):
        raise Forbidden("only the delegator or the delegate may end a delegation")
    if task.state != "claimed" or task.delegated_by_id is None:
        raise Conflict(f"task {task.id} is not delegated")
    holder, delegate = task.delegated_by, task.assignee
    _assign(task, instance, holder)
    task.delegated_by = None
    events.record(session, "task.recalled", actor, instance=instance, task=task,
                  payload={"from": delegate.username, "to": holder.username})
    session.flush()
    return task


def attach_material(session: Session, task_id: int, actor: User, **upload) -> Material:
    """Upload a file to an open step the caller may work on (see services/materials.py)."""
    task, instance = locked_task(session, task_id, actor)
    require_workable(session, task, instance, actor)
    acting_for(session, task, actor)
    if task.kind != "step":
        raise Conflict("a reminder takes no materials; attach them to the step itself")
    return materials.upload(session, task, actor, **upload)


def withdraw_material(session: Session, material_id: int, actor: User) -> Material:
    """Take back a file from an open step the caller may work on."""
    material = materials.get_material(session, material_id, actor)
    task, instance = locked_task(session, material.task_id, actor)
    require_workable(session, task, instance, actor)
    acting_for(session, task, actor)
    materials.withdraw(session, material, actor)
    return material


def _assign(task: Task, instance: ProcessInstance, user: User) -> None:
    task.assignee = user
    task.state = "claimed"
    task.claimed_at = utcnow()
    instance.updated_at = task.claimed_at


# Outcomes that send a file back or turn it down: these need a written opinion (审查意见).
NEGATIVE_OUTCOMES = frozenset({"return", "correct", "refuse", "reject", "revise", "disagree"})
MAX_OPINION = 8000


def complete_task(session: Session, task_id: int, data: Any, actor: User,
                  opinion: str | None = None) -> tuple[ProcessInstance, list[Task]]:
    """Complete a step with form data and an optional written opinion (required to return or refuse);
    returns the instance and its open tasks afterwards."""
    task, instance, open_items = locked_task_and_open_items(session, task_id, actor)
    require_workable(session, task, instance, actor)
    on_behalf_of = acting_for(session, task, actor)
    schema = form_schema(instance.definition, task.form)
    data, hints = materials.fill_material_fields(session, task, schema, data)
    errors = validate_submission(schema, data)
    if errors:
        for field, hint in hints.items():
            if field in errors:
                errors[field] = [hint]
        raise InvalidInput("the form has errors", {"data": errors})
    opinion = (opinion or "").strip() or None
    if opinion is not None and len(opinion) > MAX_OPINION:
        raise InvalidInput("the opinion is too long", {"opinion": [f"at most {MAX_OPINION} characters"]})
    outcome = outcome_of(schema, data)
    if opinion is None and outcome in NEGATIVE_OUTCOMES:
        raise InvalidInput("returning or refusing needs a written opinion",
                           {"opinion": ["required when the outcome returns or refuses (审查意见)"]})
    if task.kind == "reminder":
        return _acknowledge(session, task, instance, actor)

    runtime = runtime_of(session, instance.definition)
    workflow = runtime.load(instance.state)
    failure = None
    try:
        runtime.complete(workflow, task.spiff_task_id, data)
    except TaskNotReady:
        raise Conflict(f"task {task.id} is not ready in the process; it cannot be completed") from None
    except EngineFailure as exc:
        failure = exc
    now = utcnow()
    task.state = "completed"
    task.completed_at = now
    task.completed_by = actor
    task.on_behalf_of = on_behalf_of
    if task.assignee is None:
        task.assignee = actor
        task.claimed_at = now
    task.submitted_data = plain_json(data)
    task.outcome = outcome
    task.opinion = opinion
    task.counted_workdays = counted_workdays(calendar_of(session), task, now)
    events.record(session, "task.completed", actor, instance=instance, task=task,
                  payload={"bpmn_id": task.bpmn_id, "name": task.name, "outcome": task.outcome,
                           "opinion": opinion, "data": task.submitted_data,
                           "on_behalf_of": on_behalf_of.username if on_behalf_of else None})
    close_reminders(session, instance, task, actor)
    return instance, apply_engine_result(session, instance, runtime, workflow, actor, failure,
                                         open_items=open_items)


def _acknowledge(session: Session, reminder: Task, instance: ProcessInstance,
                 actor: User) -> tuple[ProcessInstance, list[Task]]:
    """A lead acknowledges a reminder; the overdue step itself stays where it is."""
    reminder.state = "completed"
    reminder.completed_at = utcnow()
    reminder.completed_by = actor
    reminder.assignee = reminder.assignee or actor
    instance.updated_at = reminder.completed_at
    events.record(session, "reminder.acknowledged", actor, instance=instance, task=reminder,
                  payload={"step": reminder.reminder_for_id})
    session.flush()
    return instance, open_tasks(session, instance.id)

