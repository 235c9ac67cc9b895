"""What the benchmark's completion would cost if the change functions worked on rows, not ORM
objects (the rewrite asked of the team in issue 19): the same work as ``complete_task`` does for
that step, on Core rows and one connection.

The caller read; the lock, reading every column the API's answer about the change shows (the
instance, its definition and project, each open item with its assignee); the checks; the form's
validation; the engine (load or warm, complete, dump, ready steps, next timer); the step's counted
working days; the step's UPDATE and the instance's (``lock_version`` checked); the step's event and
outbox row; the commit. It sends the service's own statements where it writes (``row_writes``,
``events``): on PostgreSQL the two UPDATEs, the event and its outbox row in one.

A measurement, not the service: it handles the benchmark's step only (unclaimed, under no
four-eyes rule, not escalated, opening no step) and refuses any other; the calendar, limits and
engine settings are read once, as the service caches them per process. ``twin_check`` makes sure
it writes what ``complete_task`` writes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select

from approvals.db import Database
from approvals.engine.data import plain_json
from approvals.engine.runtime import runtime_for, use_calendar
from approvals.engine.serializer import STATE_FORMAT
from approvals.engine.warm import WARM
from approvals.models import (
    OPEN_STATES,
    Event,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    Project,
    Task,
    TaskKind,
    TaskState,
    User,
    utcnow,
)
from approvals.services import events, reference, row_writes
from approvals.services.authz import can_read_task, can_work_on
from approvals.services.calendar_years import calendar_of
from approvals.services.deadlines import local_date
from approvals.services.definitions import form_schema
from approvals.services.forms import outcome_of, validate_submission
from approvals.services.limits import limits_of

INSTANCE, TASK, OUTBOX, USER = events.INSTANCE, events.TASK, events.OUTBOX, User.__table__
DEFINITION, PROJECT = ProcessDefinition.__table__, Project.__table__
ASSIGNEE = USER.alias("assignee")
_LARGE = ("bpmn_xml", "forms", "spec_json", "tests")  # deferred by the service too

CALLER = select(*(c for c in USER.c if c.name != "password_hash")).where(USER.c.username == bindparam("username"))


def _lock(for_update: bool) -> Select[Any]:
    """The lock read as rows: the instance (state included), its definition and project, and each
    open item (with the step asked for) with its assignee, prefixed ``p_``, ``t_``, ``a_``."""
    by_id, sent_back = TASK.alias("by_id"), TASK.alias("sent_back")
    ever = select(sent_back.c.id).where(sent_back.c.instance_id == INSTANCE.c.id, sent_back.c.outcome == "sent_back")
    item = (TASK.c.instance_id == INSTANCE.c.id) & (
        (TASK.c.id == bindparam("task_id")) | TASK.c.state.in_(sorted(OPEN_STATES))
    )
    stmt = (
        select(
            *INSTANCE.c,
            *(c.label(f"d_{c.name}") for c in DEFINITION.c if c.name not in _LARGE),
            *(c.label(f"p_{c.name}") for c in PROJECT.c),
            reference.REVISION,
            ever.exists().label("ever_sent_back"),
            *(c.label(f"t_{c.name}") for c in TASK.c),
            *(c.label(f"a_{c.name}") for c in ASSIGNEE.c if c.name != "password_hash"),
        )
        .select_from(INSTANCE)
        .join(DEFINITION, DEFINITION.c.id == INSTANCE.c.definition_id)
        .join(PROJECT, PROJECT.c.id == INSTANCE.c.project_id)
        .join(TASK, item)
        .outerjoin(ASSIGNEE, ASSIGNEE.c.id == TASK.c.assignee_id)
        .where(INSTANCE.c.id == select(by_id.c.instance_id).where(by_id.c.id == bindparam("task_id")).scalar_subquery())
        .order_by(TASK.c.id)
    )
    return stmt.with_for_update(of=INSTANCE) if for_update else stmt


# The UPDATEs' shapes as row_writes names them: the table, the columns set, whether lock_version is checked.
_STEP_COLUMNS = ("assignee_id", "claimed_at", "completed_at", "completed_by_id", "counted_workdays", "opinion")
_STEP = (TASK, tuple(sorted((*_STEP_COLUMNS, "outcome", "state", "submitted_data"))), False)
_INSTANCE = (INSTANCE, tuple(sorted(("next_timer_at", "state", "state_format", "updated_at"))), True)


def completion(database: Database, username: str, data: dict[str, Any]) -> Callable[[int], None]:
    """``complete(task_id)``: complete that step for ``username`` with ``data``, committed."""
    postgres = database.engine.dialect.name == "postgresql"
    with database.session() as session:  # cached per process by the service, read once here
        calendar, limits = calendar_of(session), limits_of(session)
    settings = {"script_timeout": limits.script_timeout, "script_memory_bytes": limits.script_memory_bytes}
    lock = _lock(postgres)
    both = row_writes._updates((_STEP, _INSTANCE), (events._with_outbox,)) if postgres else None

    def complete(task_id: int) -> None:
        with database.engine.begin() as connection:
            actor = connection.execute(CALLER, {"username": username}).one()
            rows = connection.execute(lock, {"task_id": task_id}).all()
            if not rows:
                raise LookupError(f"task {task_id} not found")
            instance = rows[0]
            row = next(r for r in rows if r.t_id == task_id)
            step = SimpleNamespace(agency_code=row.t_agency_code, assignee_id=row.t_assignee_id)
            if not (can_read_task(actor, step) and can_work_on(actor, step)):
                raise PermissionError("not this caller's step")
            if row.t_state not in OPEN_STATES or instance.status != InstanceStatus.RUNNING:
                raise RuntimeError("not open")
            if row.t_assignee_id is not None or row.t_excluded_steps or row.t_escalated_at is not None:
                raise NotImplementedError("the prototype completes the benchmark's step only")
            if len(json.dumps(data).encode()) > limits.max_data_bytes:
                raise ValueError("data too large")
            use_calendar(calendar)
            spec = _spec_of(connection, instance.definition_id)
            runtime = runtime_for(instance.d_checksum, spec, instance.d_lane_routes, **settings)
            schema = form_schema(_FormsOf(connection, instance.definition_id, instance.d_checksum), row.t_form)
            if validate_submission(schema, data):
                raise ValueError("the form has errors")
            outcome = outcome_of(schema, data)
            workflow = WARM.take(instance.id, instance.state, runtime) or runtime.load(instance.state)
            runtime.complete(workflow, row.t_spiff_task_id, data)
            state = runtime.dump(workflow)
            if len(state.encode()) > limits.max_state_bytes:
                raise ValueError("state too large")
            ready = {s.task_id for s in runtime.ready_steps(workflow)}
            if any(r.t_spiff_task_id not in ready for r in rows if r.t_id != task_id and r.t_kind == TaskKind.STEP):
                raise NotImplementedError("the prototype's step closes no other")
            if ready - {r.t_spiff_task_id for r in rows} or runtime.is_completed(workflow):
                raise NotImplementedError("the prototype's step opens no step and ends no instance")
            now, submitted = utcnow(), plain_json(data)
            step_values = {
                "k_id": task_id,
                "assignee_id": actor.id,
                "claimed_at": now,
                "completed_at": now,
                "completed_by_id": actor.id,
                "counted_workdays": calendar.workdays_between(local_date(row.t_created_at), local_date(now)),
                "opinion": None,
                "outcome": outcome,
                "state": TaskState.COMPLETED,
                "submitted_data": submitted,
            }
            instance_values = {
                "k_id": instance.id,
                "k_version": instance.lock_version,
                "next_timer_at": runtime.next_timer_due(workflow),
                "state": state,
                "state_format": STATE_FORMAT,
                "updated_at": now,
            }
            payload = {"bpmn_id": row.t_bpmn_id, "name": row.t_name, "outcome": outcome, "opinion": None}
            event = {
                "created_at": now,
                "type": "task.completed",
                "actor_id": actor.id,
                "actor_name": actor.username,
                "project_id": instance.project_id,
                "instance_id": instance.id,
                "task_id": task_id,
                "payload": payload | {"data": submitted, "on_behalf_of": None},
                "request_id": None,
            }
            if both is not None:
                params = _prefixed("r0_", step_values) | _prefixed("r1_", instance_values) | _prefixed("p0_", event)
                matched = tuple(connection.execute(both, params).one())
            else:
                matched = tuple(
                    connection.execute(row_writes._update(*shape), _prefixed("r0_", values)).rowcount
                    for shape, values in ((_STEP, step_values), (_INSTANCE, instance_values))
                )
                event_id = connection.execute(events._statement(False), event).scalar_one()
                connection.execute(events._statement_outbox(), {"event_id": event_id, "created_at": now})
            if matched != (1, 1):
                raise RuntimeError(f"rows changed meanwhile: {matched}")
            WARM.keep(instance.id, state, runtime, workflow)

    return complete


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """Parameters named as row_writes' and events' statements name them."""
    return {prefix + name: value for name, value in values.items()}


def _spec_of(connection: Connection, definition_id: int) -> Callable[[], str]:
    """The spec, read only when the engine's cache does not hold it yet."""
    return lambda: connection.scalar(select(DEFINITION.c.spec_json).where(DEFINITION.c.id == definition_id))


class _FormsOf:
    """What ``form_schema`` reads of a definition: its checksum, and its forms when not cached."""

    def __init__(self, connection: Connection, definition_id: int, checksum: str):
        self.checksum, self._read = checksum, (connection, definition_id)

    @property
    def forms(self) -> dict[str, Any]:
        connection, definition_id = self._read
        return connection.scalar(select(DEFINITION.c.forms).where(DEFINITION.c.id == definition_id))


def twin_check(
    database: Database, service: Callable[[int], None], prototype: Callable[[int], None], twins: Iterator[int]
) -> None:
    """Complete one step with the service and its twin (another instance in the same state) with
    the prototype, and fail unless both wrote the same: the step's row (but its id and times), the
    instance's ready steps and data, the event."""
    ours, theirs = next(twins), next(twins)
    service(ours)
    prototype(theirs)
    with database.session(read_only=True) as session:
        seen = [_written(session, task_id) for task_id in (ours, theirs)]
    if seen[0] != seen[1]:
        raise AssertionError(f"the prototype writes otherwise than complete_task:\n{seen[0]}\n{seen[1]}")


def _written(session: Any, task_id: int) -> dict[str, Any]:
    step = session.get(Task, task_id)
    instance = session.get(ProcessInstance, step.instance_id)
    times = {"id", "instance_id", "created_at", "claimed_at", "completed_at", "due_at", "spiff_task_id"}
    event = session.scalars(select(Event).where(Event.task_id == task_id).order_by(Event.id.desc())).first()
    return {
        "step": {c.name: getattr(step, c.name) for c in TASK.c if c.name not in times},
        "instance": (instance.status, instance.lock_version, instance.state_format, instance.next_timer_at),
        "open": sorted((t.bpmn_id, t.state) for t in instance.tasks if t.is_open),
        "event": (event.type, event.actor_name, event.payload),
        "outbox": session.scalar(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.event_id == event.id)),
    }
