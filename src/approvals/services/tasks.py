"""Work items: the inbox, claim, unclaim, assign, delegate and complete."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from ..engine.data import plain_json
from ..engine.runtime import TaskNotReady
from ..models import (
    NEGATIVE_OUTCOMES,
    InstanceStatus,
    Material,
    ProcessDefinition,
    ProcessInstance,
    Project,
    Task,
    TaskKind,
    TaskState,
    User,
    utcnow,
)
from ..text import msg
from . import materials, substitutes
from .authz import (
    can_assign,
    can_read_agency,
    can_read_task,
    can_release,
    can_work_on,
    may_take_steps,
    reads_all,
    require,
)
from .definitions import form_schema
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .forms import outcome_of, require_data_size, validate_submission
from .instance_change import InstanceChange, changing_task
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
        raise NotFound(msg("task {task_id} not found", task_id=task_id))
    require(
        can_read_task(actor, task),
        msg("task {task_id} belongs to agency {agency_code}", task_id=task_id, agency_code=task.agency_code),
    )
    return task


def form_of(task: Task) -> dict[str, Any] | None:
    return form_schema(task.instance.definition, task.form)


@dataclass(frozen=True)
class InboxFilter:
    """Which work items an inbox lists (the API's query string and the pages' filters)."""

    agency: str | None = None
    assignee_me: bool = False
    state: str = "active"  # one of TASK_FILTER_STATES; active = open or claimed
    project: str | None = None
    process: str | None = None  # a process key
    overdue: bool | None = None
    search: str | None = None  # part of a project's code or name, a step's name, or a document number
    sort: str = "due"  # one of INBOX_SORTS
    page: int = 1
    page_size: int = 50


TASK_FILTER_STATES = ("active", *TaskState, "all")
# Inbox orders: soonest due first (undated last), newest arrival first, by project code.
INBOX_SORTS = ("due", "arrival", "project")


def inbox(session: Session, actor: User, query: InboxFilter) -> tuple[list[Task], int]:
    """Tasks for an agency (the caller's by default); staff see only their own agency's."""
    agency = query.agency
    if agency is None and not reads_all(actor):
        agency = actor.agency_code
    if agency is not None:
        require(can_read_agency(actor, agency), msg("you may not read the inbox of agency {agency}", agency=agency))
    stmt = select(Task)
    if agency is not None:
        stmt = stmt.where(Task.agency_code == agency)
    if query.assignee_me:  # mine, and those of colleagues I stand in for today
        stmt = stmt.where(Task.assignee_id.in_([actor.id, *substitutes.absent_users_for(session, actor)]))
    if query.state == "active":
        stmt = stmt.where(Task.is_open)
    elif query.state != "all":
        stmt = stmt.where(Task.state == query.state)
    stmt = stmt.join(ProcessInstance, Task.instance_id == ProcessInstance.id).join(
        Project, ProcessInstance.project_id == Project.id
    )
    if query.project:  # a project's code, as people type it
        stmt = stmt.where(func.lower(Project.code) == query.project.strip().lower())
    if query.process:
        # The model's own steps, and steps of that process wherever it was called (a step's stage
        # is the name of the process it belongs to).
        names = select(ProcessDefinition.name).where(ProcessDefinition.key == query.process)
        in_model = select(ProcessDefinition.id).where(ProcessDefinition.key == query.process)
        stmt = stmt.where(or_(ProcessInstance.definition_id.in_(in_model), Task.stage.in_(names)))
    if query.search and query.search.strip():
        like = f"%{_escape_like(query.search.strip().lower())}%"
        numbered = select(Material.instance_id).where(func.lower(Material.document_number).like(like, escape="\\"))
        stmt = stmt.where(
            or_(
                func.lower(Project.code).like(like, escape="\\"),
                func.lower(Project.name).like(like, escape="\\"),
                func.lower(Task.name).like(like, escape="\\"),
                Task.instance_id.in_(numbered),
            )
        )
    if query.overdue is not None:
        late = Task.overdue_at(utcnow())
        stmt = stmt.where(late if query.overdue else ~late)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = {
        "due": (Task.due_at.is_(None), Task.due_at, Task.id),
        "arrival": (Task.created_at.desc(), Task.id.desc()),
        "project": (Project.code, Task.due_at.is_(None), Task.due_at, Task.id),
    }[query.sort if query.sort in INBOX_SORTS else "due"]
    rows = session.scalars(
        stmt.options(*TASK_LOADS).order_by(*order).offset((query.page - 1) * query.page_size).limit(query.page_size)
    )
    return list(rows.unique()), total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def acting_for(session: Session, task: Task, actor: User) -> User | None:
    """Whom ``actor`` acts for on this step: None when it is unclaimed or theirs, the holder who
    delegated it to them, or the absent assignee they stand in for; 409 when it is someone else's.
    Four eyes hold for the one acted for as for the actor."""
    principal = _principal(session, task, actor)
    if principal is not None:
        _require_other_eyes(session, task, principal)
    return principal


def _principal(session: Session, task: Task, actor: User) -> User | None:
    if task.assignee_id is None:
        return None
    if task.assignee_id == actor.id:
        return task.delegated_by
    if substitutes.stands_in_for(session, actor, task.assignee_id):
        return task.assignee
    raise Conflict(
        msg(
            "task {task_id} is claimed by {value}",
            task_id=task.id,
            value=task.assignee.username if task.assignee else "?",
        )
    )


def _require_open(task: Task, instance: ProcessInstance) -> None:
    if not task.is_open:
        raise Conflict(msg("task {task_id} is {state}", task_id=task.id, state=task.state))
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict(msg("the process instance is {status}", status=instance.status))


def require_workable(session: Session, task: Task, instance: ProcessInstance, actor: User) -> None:
    require(
        can_work_on(actor, task),
        msg("only staff of agency {agency_code} may work on this task", agency_code=task.agency_code),
    )
    _require_open(task, instance)
    _require_other_eyes(session, task, actor)


def _require_other_eyes(session: Session, task: Task, user: User) -> None:
    """Four eyes: whoever completed an excluded earlier step, or had it completed for them (by a
    delegate or a substitute), may not do this one, nor have it done for them."""
    if not task.excluded_steps:
        return
    done = session.scalar(
        select(Task.name)
        .where(
            Task.instance_id == task.instance_id,
            Task.bpmn_id.in_(task.excluded_steps),
            Task.finished_normally,
            (Task.completed_by_id == user.id) | (Task.on_behalf_of_id == user.id),
        )
        .limit(1)
    )
    if done is not None:
        raise Forbidden(
            msg(
                "four eyes: “{done}” was done by or for {username}, who may not also do “{name}”",
                done=done,
                username=user.username,
                name=task.name,
            )
        )


def claim_task(session: Session, task_id: int, actor: User) -> Task:
    with changing_task(session, task_id, actor) as change:
        task = change.task
        require_workable(session, task, change.instance, actor)
        if task.assignee_id == actor.id:
            change.leave_unchanged()
            return task
        if task.assignee is not None:
            raise Conflict(
                msg("task {task_id} is already claimed by {username}", task_id=task.id, username=task.assignee.username)
            )
        _assign(task, actor)
        change.record("task.claimed", task=task)
    return task


def unclaim_task(session: Session, task_id: int, actor: User) -> Task:
    with changing_task(session, task_id, actor) as change:
        task = change.task
        if task.state != TaskState.CLAIMED:
            raise Conflict(msg("task {task_id} is {state}, not claimed", task_id=task.id, state=task.state))
        require(
            can_release(actor, task) or substitutes.stands_in_for(session, actor, task.assignee_id),
            msg("only the assignee, their substitute or a lead of the agency may release a task"),
        )
        previous = task.assignee.username if task.assignee else None
        task.assignee = None
        task.delegated_by = None
        task.state = TaskState.OPEN
        task.claimed_at = None
        change.record("task.unclaimed", task=task, payload={"from": previous})
    return task


def assign_task(session: Session, task_id: int, username: str, actor: User) -> Task:
    with changing_task(session, task_id, actor) as change:
        task = change.task
        require(can_assign(actor, task), msg("only a lead of the task's agency may assign it"))
        _require_open(task, change.instance)
        target = get_user(session, username or "")
        if target is None or not target.active:
            raise InvalidInput(
                msg("no active user {username!r}", username=username), {"username": [msg("unknown user")]}
            )
        _require_may_take(session, task, target)
        previous = task.assignee.username if task.assignee else None
        _assign(task, target)
        task.delegated_by = None
        change.record("task.assigned", task=task, payload={"from": previous, "to": target.username})
    return task


def _require_may_take(session: Session, task: Task, target: User) -> None:
    """A step handed to someone (assigned, delegated) must go to staff or a lead of its agency who
    passes its four-eyes rule; the error names the ``username`` field."""
    if not may_take_steps(target, task.agency_code):
        raise InvalidInput(
            msg(
                "{username} cannot work on tasks of agency {agency_code}",
                username=target.username,
                agency_code=task.agency_code,
            ),
            {"username": [msg("must be staff or a lead of agency {agency_code}", agency_code=task.agency_code)]},
        )
    try:
        _require_other_eyes(session, task, target)
    except Forbidden as exc:
        raise InvalidInput(exc.message, {"username": [exc.message]}) from None


def delegate_task(session: Session, task_id: int, username: str, actor: User) -> Task:
    """The holder of a claimed step hands it to a colleague of the agency, and may recall it."""
    with changing_task(session, task_id, actor) as change:
        task = change.task
        require_workable(session, task, change.instance, actor)
        if task.assignee_id != actor.id:
            raise Conflict(msg("only the holder of task {task_id} may delegate it; claim it first", task_id=task.id))
        if task.delegated_by is not None:
            raise Conflict(
                msg(
                    "task {task_id} was delegated to you by {username}; hand it back instead of passing it on",
                    task_id=task.id,
                    username=task.delegated_by.username,
                )
            )
        target = get_user(session, username or "")
        if target is None or not target.active or target.id == actor.id:
            raise InvalidInput(
                msg("no colleague {username!r} to delegate to", username=username),
                {"username": [msg("unknown user, or yourself")]},
            )
        _require_may_take(session, task, target)
        _assign(task, target)
        task.delegated_by = actor
        change.record("task.delegated", task=task, payload={"from": actor.username, "to": target.username})
    return task


def recall_task(session: Session, task_id: int, actor: User) -> Task:
    """End a delegation: the delegator takes the step back (or the delegate hands it back)."""
    with changing_task(session, task_id, actor) as change:
        task = change.task
        if actor.id not in (task.delegated_by_id, task.assignee_id):
            raise Forbidden(msg("only the delegator or the delegate may end a delegation"))
        holder, delegate = task.delegated_by, task.assignee
        if task.state != TaskState.CLAIMED or holder is None or delegate is None:
            raise Conflict(msg("task {task_id} is not delegated", task_id=task.id))
        _assign(task, holder)
        task.delegated_by = None
        change.record("task.recalled", task=task, payload={"from": delegate.username, "to": holder.username})
    return task


def _may_attach(session: Session, task: Task, instance: ProcessInstance, actor: User) -> None:
    require_workable(session, task, instance, actor)
    acting_for(session, task, actor)
    if not task.is_step:
        raise Conflict(msg("a reminder takes no materials; attach them to the step itself"))


def attach_material(session: Session, task_id: int, actor: User, **upload: Any) -> Material:
    """Upload a file to an open step the caller may work on (see services/materials.py)."""
    with changing_task(session, task_id, actor) as change:
        task = change.task
        _may_attach(session, task, change.instance, actor)
        return materials.upload(session, task, actor, **upload)


def withdraw_material(session: Session, material_id: int, actor: User) -> Material:
    """Take back a file from an open step the caller may work on."""
    material = materials.get_material(session, material_id, actor)
    with changing_task(session, material.task_id, actor) as change:
        task = change.task
        require_workable(session, task, change.instance, actor)
        acting_for(session, task, actor)
        materials.withdraw(session, material, actor)
    return material


def _assign(task: Task, user: User) -> None:
    task.assignee = user
    task.state = TaskState.CLAIMED
    task.claimed_at = utcnow()


MAX_OPINION = 8000


def complete_task(
    session: Session, task_id: int, data: Any, actor: User, opinion: str | None = None
) -> tuple[ProcessInstance, list[Task]]:
    """Complete a step with form data and an optional written opinion (required to return or refuse);
    returns the instance and its open tasks afterwards."""
    with changing_task(session, task_id, actor) as change:
        _complete(change, data, actor, opinion)
    return change.instance, change.open_after


@dataclass(frozen=True)
class Upload:
    """A file sent with a form: the form field it is for (None: the step's general materials), its name and bytes."""

    field: str | None
    name: str
    stream: IO[bytes]


def complete_with_uploads(
    session: Session, task_id: int, uploads: Iterable[Upload], data: Any, actor: User, opinion: str | None = None
) -> tuple[ProcessInstance, list[Task]]:
    """Attach the files sent with a form, then complete the step, as one change: if anything is
    refused, nothing of the submission is kept, files included (a savepoint, so the caller's
    transaction stays usable to show the form again)."""
    with session.begin_nested():
        with changing_task(session, task_id, actor) as change:
            task = change.task
            for upload in uploads:
                _may_attach(session, task, change.instance, actor)
                materials.upload(session, task, actor, name=upload.name, stream=upload.stream, field=upload.field)
            _complete(change, data, actor, opinion)
    return change.instance, change.open_after


def _complete(change: InstanceChange, data: Any, actor: User, opinion: str | None) -> None:
    session, task, instance = change.session, change.task, change.instance
    require_workable(session, task, instance, actor)
    on_behalf_of = acting_for(session, task, actor)
    require_data_size(session, data)
    schema = form_schema(instance.definition, task.form)
    data, hints = materials.fill_material_fields(session, task, schema, data)
    errors = validate_submission(schema, data)
    if errors:
        for field, hint in hints.items():
            if field in errors:
                errors[field] = [hint]
        raise InvalidInput(msg("the form has errors"), {"data": errors})
    opinion = (opinion or "").strip() or None
    if opinion is not None and len(opinion) > MAX_OPINION:
        raise InvalidInput(
            msg("the opinion is too long"),
            {"opinion": [msg("at most {MAX_OPINION} characters", MAX_OPINION=MAX_OPINION)]},
        )
    outcome = outcome_of(schema, data)
    if opinion is None and outcome in NEGATIVE_OUTCOMES:
        raise InvalidInput(
            msg("returning or refusing needs a written opinion"),
            {"opinion": [msg("required when the outcome returns or refuses (审查意见)")]},
        )
    if task.kind == TaskKind.REMINDER:
        _acknowledge(change, task, actor)
        return
    try:
        change.advance(lambda workflow: change.runtime.complete(workflow, task.spiff_task_id, data))
    except TaskNotReady:
        raise Conflict(
            msg("task {task_id} is not ready in the process; it cannot be completed", task_id=task.id)
        ) from None
    submitted = plain_json(data)
    change.close_step(
        task,
        outcome=outcome,
        opinion=opinion,
        submitted_data=submitted,
        on_behalf_of=on_behalf_of,
        event="task.completed",
        payload={"outcome": outcome, "opinion": opinion, "data": submitted},
    )


def _acknowledge(change: InstanceChange, reminder: Task, actor: User) -> None:
    """A lead acknowledges a reminder; the overdue step itself stays where it is."""
    reminder.state = TaskState.COMPLETED
    reminder.completed_at = utcnow()
    reminder.completed_by = actor
    reminder.assignee = reminder.assignee or actor
    change.record("reminder.acknowledged", task=reminder, payload={"step": reminder.reminder_for_id})
