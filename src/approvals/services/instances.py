"""Process instances: start, the instance transaction, and lifecycle (suspend, resume, terminate).

Every change to an instance runs in one transaction that first locks the instance row
(``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the write transaction itself began with
``BEGIN IMMEDIATE``), then re-reads its task rows, changes state, task rows and events together,
and bumps ``lock_version`` so that a writer that slipped past the lock would fail, never win.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload, undefer

from ..db import is_postgres
from ..engine.data import check_safe_data, plain_json
from ..engine.errors import EngineFailure, UnsafeData
from ..engine.runtime import ModelRuntime
from ..engine.serializer import STATE_FORMAT
from ..models import SENT_BACK, ProcessInstance, Task, User, utcnow
from . import events, reference
from .agencies import lane_agencies
from .authz import can_manage_instances, can_manage_projects, require
from .calendar import calendar_of, due_for, parse_time_limit
from .definitions import latest, runtime_of
from .errors import Conflict, InvalidInput, NotFound
from .projects import get_project

OPEN_STATES = ("open", "claimed")
RESERVED_START_KEYS = ("project",)


def get_instance(session: Session, instance_id: int) -> ProcessInstance:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"process instance {instance_id} not found")
    return instance


def lock_instance(session: Session, instance_id: int | None = None, *,
                  task_of: int | None = None) -> ProcessInstance | None:
    """Load the instance for change (by its id, or as the instance of task ``task_of``), holding
    its lock until the transaction ends; with ``task_of`` an unknown task gives None. The same
    statement reads the reference revision, so cached calendars and directories need no other."""
    stmt = _lock_statement(task_of is not None, is_postgres(session))
    row = session.execute(stmt, {"instance_id": instance_id, "task_id": task_of}).one_or_none()
    if row is None:
        if task_of is None:
            raise NotFound(f"process instance {instance_id} not found")
        return None
    instance, revision = row
    reference.note_revision(session, revision)
    return instance


# The statements of every instance change are built once (building one costs about as much as
# running it); SQLAlchemy then finds their compiled form in its cache.
@cache
def _lock_statement(by_task: bool, for_update: bool):
    which = (select(Task.instance_id).where(Task.id == bindparam("task_id")).scalar_subquery() if by_task
             else bindparam("instance_id"))
    stmt = (
        select(ProcessInstance, reference.REVISION).where(ProcessInstance.id == which)
        .options(undefer(ProcessInstance.state), joinedload(ProcessInstance.definition),
                 joinedload(ProcessInstance.project))
        .execution_options(populate_existing=True)
    )
    return stmt.with_for_update(of=ProcessInstance) if for_update else stmt


def open_tasks(session: Session, instance_id: int, kind: str | None = None) -> list[Task]:
    """The open work items of an instance: its steps and any reminders about them (with the
    people on them loaded, as every caller shows or checks them)."""
    stmt = select(Task).where(Task.instance_id == instance_id, Task.state.in_(OPEN_STATES))
    if kind is not None:
        stmt = stmt.where(Task.kind == kind)
    return list(session.scalars(stmt.options(joinedload(Task.assignee)).order_by(Task.id)))


def task_and_open_items(session: Session, instance_id: int, task_id: int) -> tuple[Task | None, list[Task]]:
    """Under the instance's lock, in one statement: task ``task_id`` if it belongs to the instance,
    and the instance's open items (as ``open_tasks``), both read afresh."""
    rows = list(session.scalars(_TASK_AND_OPEN_ITEMS, {"instance_id": instance_id, "task_id": task_id}))
    task = next((row for row in rows if row.id == task_id), None)
    return task, [row for row in rows if row.state in OPEN_STATES]


_TASK_AND_OPEN_ITEMS = (
    select(Task).where(Task.instance_id == bindparam("instance_id"),
                       (Task.id == bindparam("task_id")) | Task.state.in_(OPEN_STATES))
    .options(joinedload(Task.assignee)).order_by(Task.id).execution_options(populate_existing=True)
)


def close_reminders(session: Session, instance: ProcessInstance, step: Task, actor: User | None) -> None:
    """A step that is done (or cancelled) needs no more reminding (only escalated steps have reminders)."""
    if step.escalated_at is None:
        return
    for reminder in session.scalars(select(Task).where(Task.reminder_for_id == step.id,
                                                        Task.state.in_(OPEN_STATES))):
        reminder.state = "cancelled"
        reminder.completed_at = utcnow()
        events.record(session, "task.cancelled", actor, instance=instance, task=reminder,
                      payload={"bpmn_id": reminder.bpmn_id, "reason": f"step {step.id} is {step.state}"})


def project_facts(project) -> dict[str, Any]:
    """What a model may read about its project (e.g. lane routing by funding level)."""
    return {
        "code": project.code,
        "name": project.name,
        "owner_unit": project.owner_unit,
        "funding_level": project.funding_level,
        "investment": str(project.investment) if project.investment is not None else None,
    }


def start_instance(session: Session, project_code: str, process_key: str, data: Any,
                   actor: User) -> tuple[ProcessInstance, list[Task]]:
    """Start the latest version of a process for a project; returns the instance and its open items."""
    require(can_manage_projects(actor), "only the coordinating agency or an admin starts processes")
    project = get_project(session, project_code)
    definition = latest(session, process_key, "bpmn")
    if definition is None:
        raise InvalidInput(f"no process definition {process_key!r}", {"process_key": ["unknown process"]})
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InvalidInput("data must be a JSON object", {"data": ["must be a JSON object"]})
    try:
        check_safe_data(data)
    except UnsafeData as exc:
        raise InvalidInput(str(exc), {"data": {exc.path.removeprefix("data."): [str(exc).split(": ", 1)[1]]}}) from None
    for key in RESERVED_START_KEYS:
        if key in data:
            raise InvalidInput(f"data.{key} is set by the service", {"data": {key: ["reserved"]}})

    runtime = runtime_of(session, definition)
    instance = ProcessInstance(project=project, definition=definition, status="running",
                               state="", state_format=STATE_FORMAT, started_by_id=actor.id)
    session.add(instance)
    session.flush()
    events.record(session, "instance.started", actor, instance=instance,
                  payload={"process_key": definition.key, "version": definition.version, "data": plain_json(data)})
    failure = None
    workflow = None
    try:
        workflow = runtime.start({**data, "project": project_facts(project)})
    except EngineFailure as exc:
        failure = exc
    if workflow is None:
        # The model failed before its first state existed: keep the instance, in error, for the record.
        _fail(session, instance, failure, actor)
        instance.state = "{}"
        session.flush()
        return instance, []
    return instance, apply_engine_result(session, instance, runtime, workflow, actor, failure, open_items=[])


def apply_engine_result(session: Session, instance: ProcessInstance, runtime: ModelRuntime, workflow,
                        actor: User | None, failure: EngineFailure | None = None,
                        cancel_reason: str = "no longer reachable", open_items: list[Task] | None = None) -> list[Task]:
    """Save the workflow, bring task rows in line with its READY human tasks; returns the
    instance's open work items afterwards. ``open_items``: the instance's open items as the caller
    read them under the lock in this transaction (read here when not given)."""
    still_open: list[Task] | None = None
    if failure is None:
        try:
            still_open = _sync_tasks(session, instance, runtime, workflow, actor, cancel_reason, open_items)
        except EngineFailure as exc:
            failure = exc
    instance.state = runtime.dump(workflow)
    instance.state_format = STATE_FORMAT
    instance.updated_at = utcnow()
    instance.next_timer_at = runtime.next_timer_due(workflow)
    if failure is not None:
        _fail(session, instance, failure, actor)
    elif runtime.is_completed(workflow):
        end = runtime.reached_end(workflow)
        instance.status = "completed"
        instance.result = end[1] if end else None
        instance.ended_at = utcnow()
        instance.next_timer_at = None
        events.record(session, "instance.completed", actor, instance=instance,
                      payload={"end_event": end[0] if end else None, "result": instance.result})
    session.flush()
    return still_open if still_open is not None else open_tasks(session, instance.id)


def _fail(session: Session, instance: ProcessInstance, failure: EngineFailure, actor: User | None) -> None:
    instance.status = "error"
    instance.error_message = str(failure)
    instance.error_element = failure.element
    events.record(session, "instance.error", actor, instance=instance,
                  payload={"message": str(failure), "element": failure.element})


def _sync_tasks(session: Session, instance: ProcessInstance, runtime: ModelRuntime, workflow,
                actor: User | None, cancel_reason: str, open_items: list[Task] | None) -> list[Task]:
    """Open rows for new READY steps, cancel rows whose step is gone; returns the open items."""
    ready = runtime.ready_steps(workflow)
    ready_ids = {step.task_id for step in ready}
    # Steps and reminders: what is open afterwards comes from these. Rows read earlier under the
    # lock are the same objects the caller changed since, so their state says which are still open.
    items = open_tasks(session, instance.id) if open_items is None else \
        [row for row in open_items if row.state in OPEN_STATES]
    rows = [row for row in items if row.kind == "step"]
    known = {row.spiff_task_id for row in rows}
    # Route every new step before changing anything, so a routing failure leaves no half-made rows.
    new_steps = [step for step in ready if step.task_id not in known]
    agencies = lane_agencies(session) if new_steps else {}
    routed = []
    for step in new_steps:
        target = runtime.route(step.lane, step.data)
        agency = agencies.get(target or "")
        if agency is None:
            raise EngineFailure(f"step {step.bpmn_id!r}: lane {step.lane!r} names no known agency"
                                + (f" (routed to {target!r})" if target != step.lane else ""), step.bpmn_id)
        routed.append((step, agency))
    now = utcnow()
    for row in rows:
        if row.spiff_task_id not in ready_ids:
            row.state = "cancelled"
            row.completed_at = now
            events.record(session, "task.cancelled", actor, instance=instance, task=row,
                          payload={"bpmn_id": row.bpmn_id, "reason": cancel_reason})
            close_reminders(session, instance, row, actor)
    created = []
    calendar = calendar_of(session) if routed else None
    limits = {step.task_id: parse_time_limit(step.properties.get("time_limit")) for step, _ in routed}
    workday_steps = {step.bpmn_id for step, _ in routed if limits[step.task_id] and limits[step.task_id][1] == "WD"}
    used = _used_before_send_back(session, instance.id, workday_steps)
    for step, agency in routed:
        time_limit = step.properties.get("time_limit")
        limit = limits[step.task_id]
        if limit and limit[1] == "WD":  # a step sent back earlier resumes its clock
            limit = (max(limit[0] - used[step.bpmn_id], 0), "WD")
        deadline = due_for(calendar, now, f"{limit[0]}{limit[1]}" if limit else time_limit)
        row = Task(instance_id=instance.id, spiff_task_id=step.task_id, bpmn_id=step.bpmn_id, name=step.name,
                   stage=step.stage, lane=step.lane, agency_code=agency, form=step.form,
                   documentation=step.documentation, state="open", created_at=now,
                   input_data=plain_json(step.data), time_limit=time_limit,
                   due_at=deadline.end_of_day_utc() if deadline else None,
                   due_provisional=bool(deadline and deadline.provisional),
                   limit_workdays=limit[0] if limit and limit[1] == "WD" else None,
                   statutory=limit is not None and step.properties.get("clock") != "stopped",
                   excluded_steps=step.excluded_steps)
        session.add(row)
        created.append(row)
    if created:
        session.flush()  # the events below name the new rows' ids
    for row in created:
        events.record(session, "task.created", actor, instance=instance, task=row,
                      payload={"bpmn_id": row.bpmn_id, "name": row.name, "agency": row.agency_code})
    return [row for row in items if row.state in OPEN_STATES] + created


def _used_before_send_back(session: Session, instance_id: int, bpmn_ids: set[str]) -> dict[str, int]:
    """Working days each of these steps already used in its latest runs that ended by sending the
    instance back (one query for all of them; none when no step with a working-day limit opens)."""
    used = dict.fromkeys(bpmn_ids, 0)
    if not bpmn_ids:
        return used
    restarted: set[str] = set()
    for bpmn_id, outcome, counted in session.execute(
        select(Task.bpmn_id, Task.outcome, Task.counted_workdays).where(
            Task.instance_id == instance_id, Task.bpmn_id.in_(bpmn_ids), Task.state == "completed")
        .order_by(Task.id.desc())
    ):
        if bpmn_id in restarted:
            continue
        if outcome != SENT_BACK:  # a run that finished normally: the step starts afresh after it
            restarted.add(bpmn_id)
            continue
        used[bpmn_id] += counted or 0
    return used


# -- lifecycle -----------------------------------------------------------------------------------


def _change_status(session: Session, instance_id: int, actor: User, *, action: str, from_status: str,
                   to_status: str, event: str) -> ProcessInstance:
    require(can_manage_instances(actor), f"only a lead of the coordinating agency or an admin may {action}")
    instance = lock_instance(session, instance_id)
    if instance.status != from_status:
        raise Conflict(f"the instance is {instance.status}; only a {from_status} instance can be {to_status}")
    instance.status = to_status
    instance.updated_at = utcnow()
    events.record(session, event, actor, instance=instance)
    session.flush()
    return instance


def suspend_instance(session: Session, instance_id: int, actor: User) -> ProcessInstance:
    """No step can be claimed or completed, and no timer fires, until it is resumed."""
    return _change_status(session, instance_id, actor, action="suspend", from_status="running",
                          to_status="suspended", event="instance.suspended")


def resume_instance(session: Session, instance_id: int, actor: User) -> ProcessInstance:
    return _change_status(session, instance_id, actor, action="resume", from_status="suspended",
                          to_status="running", event="instance.resumed")


def terminate_instance(session: Session, instance_id: int, actor: User, reason: str = "") -> ProcessInstance:
    require(can_manage_instances(actor), "only a lead of the coordinating agency or an admin may terminate")
    instance = lock_instance(session, instance_id)
    if instance.status in ("completed", "terminated"):
        raise Conflict(f"the instance is already {instance.status}")
    now = utcnow()
    for row in open_tasks(session, instance.id):
        row.state = "cancelled"
        row.completed_at = now
        events.record(session, "task.cancelled", actor, instance=instance, task=row,
                      payload={"bpmn_id": row.bpmn_id, "reason": "instance terminated"})
    instance.status = "terminated"
    instance.next_timer_at = None
    instance.ended_at = now
    instance.updated_at = now
    events.record(session, "instance.terminated", actor, instance=instance, payload={"reason": reason})
    session.flush()
    return instance


def instance_events(session: Session, instance_id: int):
    from ..models import Event

    get_instance(session, instance_id)
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)))


MAX_COMMENT = 4000


def add_comment(session: Session, instance_id: int, text: str, actor: User):
    """A free comment on an instance, kept in its history."""
    require(actor.role != "observer", "observers read; they do not comment")
    instance = get_instance(session, instance_id)
    text = (text or "").strip()
    if not text or len(text) > MAX_COMMENT:
        raise InvalidInput("invalid comment", {"text": [f"1-{MAX_COMMENT} characters"]})
    event = events.record(session, "comment.added", actor, instance=instance, payload={"text": text})
    session.flush()
    return event
