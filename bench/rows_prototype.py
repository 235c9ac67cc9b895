"""What the benchmark's completion and start would cost if the change functions worked on rows,
not ORM objects (the rewrite asked of the team in issue 19): the same work as ``complete_task`` and
``start_instance`` do for them, on Core rows and one connection.

``completion``: the caller read; the lock, reading every column the API's answer about the
change shows (the instance, its definition and project, each open item with its assignee); the
checks; the form's validation; the engine (load or warm, complete, dump, ready steps, next timer); the step's counted
working days; the step's UPDATE and the instance's (``lock_version`` checked); the step's event and
outbox row; the commit.

``start``: the caller read; the project with the process's latest version; the data's checks; the
engine (new workflow with the project's facts, first steps, dump, ready steps, next timer); each
first step routed to its agency (never the starter's, for a routing lane) with its deadline on the
calendar; the instance's and the steps' INSERTs with their events and outbox rows; the commit.

Both send the service's own statements where they write (``row_writes``, ``events``): on
PostgreSQL a completion's two UPDATEs and its event in one statement, a start's rows and events in
one.

A measurement, not the service: each handles the benchmark's case only (a step unclaimed, under no
four-eyes rule, not escalated, opening no step; a start whose first steps route and open) and
refuses any other; the calendar, agencies, limits and engine settings are read once, as the
service caches them per process. ``twin_check`` and ``twin_check_start`` make sure they write what
the service writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, Table, bindparam, func, select

from approvals.db import Database
from approvals.engine.data import check_safe_data, json_size, plain_json
from approvals.engine.runtime import runtime_for, use_calendar
from approvals.engine.serializer import STATE_FORMAT
from approvals.engine.warm import WARM
from approvals.models import (
    OPEN,
    OPEN_STATES,
    SENT_BACK,
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
from approvals.services.agencies import lane_agencies
from approvals.services.authz import can_manage_projects, can_read_task, can_work_on
from approvals.services.calendar_years import calendar_of
from approvals.services.deadlines import due_for, local_date, parse_time_limit
from approvals.services.definitions import form_schema, latest_id
from approvals.services.forms import outcome_of, validate_submission
from approvals.services.instance_change import new_step_columns
from approvals.services.instances import RESERVED_START_KEYS
from approvals.services.limits import Limits, limits_of
from approvals.services.projects import project_facts
from approvals.workdays import WorkCalendar

INSTANCE, TASK, EVENT, OUTBOX = events.INSTANCE, events.TASK, events.EVENT, events.OUTBOX
USER: Table = User.__table__  # type: ignore[assignment]
DEFINITION, PROJECT = ProcessDefinition.__table__, Project.__table__
ASSIGNEE = USER.alias("assignee")
_LARGE = ("bpmn_xml", "forms", "spec_json", "tests")  # deferred by the service too

CALLER = select(*(c for c in USER.c if c.name != "password_hash")).where(USER.c.username == bindparam("username"))


def _lock(for_update: bool) -> Select[Any]:
    """The lock read as rows: the instance (state included) with its definition and project, and
    each open item with its assignee (the definition's, project's, item's and assignee's columns
    prefixed ``d_``, ``p_``, ``t_``, ``a_``)."""
    by_id, sent_back = TASK.alias("by_id"), TASK.alias("sent_back")
    ever = select(sent_back.c.id).where(sent_back.c.instance_id == INSTANCE.c.id, sent_back.c.outcome == SENT_BACK)
    # As the service reads them: through their partial index (the states named in the SQL text).
    item = (TASK.c.instance_id == INSTANCE.c.id) & TASK.c.state.in_(OPEN)
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
        .outerjoin(TASK, item)
        .outerjoin(ASSIGNEE, ASSIGNEE.c.id == TASK.c.assignee_id)
        .where(INSTANCE.c.id == select(by_id.c.instance_id).where(by_id.c.id == bindparam("task_id")).scalar_subquery())
    )
    return stmt.with_for_update(of=INSTANCE) if for_update else stmt


# The UPDATEs' shapes as row_writes names them: the table, the columns set, whether lock_version is checked.
_STEP_COLUMNS = ("assignee_id", "claimed_at", "completed_at", "completed_by_id", "counted_workdays", "opinion")
_STEP = (TASK, tuple(sorted((*_STEP_COLUMNS, "outcome", "state", "submitted_data"))), False)
_INSTANCE = (INSTANCE, tuple(sorted(("next_timer_at", "state", "state_format", "updated_at"))), True)


class _PerProcess(NamedTuple):
    """What the service keeps per process (while the reference revision holds): read once here."""

    calendar: WorkCalendar
    limits: Limits
    agencies: Mapping[str, str]
    engine: dict[str, Any]  # the runtime's settings


def _per_process(database: Database) -> _PerProcess:
    with database.session() as session:
        limits = limits_of(session)
        engine = {"script_timeout": limits.script_timeout, "script_memory_bytes": limits.script_memory_bytes}
        return _PerProcess(calendar_of(session), limits, lane_agencies(session), engine)


def completion(database: Database, username: str, data: dict[str, Any]) -> Callable[[int], None]:
    """``complete(task_id)``: complete that step for ``username`` with ``data``, committed."""
    postgres = database.engine.dialect.name == "postgresql"
    calendar, limits, _, settings = _per_process(database)
    lock = _lock(postgres)
    both = row_writes._updates((_STEP, _INSTANCE), (events._with_outbox,)) if postgres else None

    def complete(task_id: int) -> None:
        with database.engine.begin() as connection:
            actor = connection.execute(CALLER, {"username": username}).one()
            rows = sorted(connection.execute(lock, {"task_id": task_id}), key=lambda r: r.t_id or 0)
            row = next((r for r in rows if r.t_id == task_id), None)
            if row is None:
                raise NotImplementedError("the prototype completes an open step only")
            instance = rows[0]
            step = SimpleNamespace(agency_code=row.t_agency_code, assignee_id=row.t_assignee_id)
            if not (can_read_task(actor, step) and can_work_on(actor, step)):
                raise PermissionError("not this caller's step")
            if row.t_state not in OPEN_STATES or instance.status != InstanceStatus.RUNNING:
                raise RuntimeError("not open")
            if row.t_assignee_id is not None or row.t_excluded_steps or row.t_escalated_at is not None:
                raise NotImplementedError("the prototype completes the benchmark's step only")
            if json_size(data) > limits.max_data_bytes:
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


PROJECT_AND_LATEST = (
    select(*PROJECT.c, *(c.label(f"d_{c.name}") for c in DEFINITION.c if c.name not in _LARGE), reference.REVISION)
    .join_from(PROJECT, DEFINITION, DEFINITION.c.id == latest_id(bindparam("key"), "bpmn"))
    .where(PROJECT.c.code == bindparam("code"))
)


def start(database: Database, username: str, project_code: str, process_key: str) -> Callable[[dict[str, Any]], int]:
    """``start(data)``: start the latest version of ``process_key`` for the project, committed;
    returns the instance's id."""
    postgres = database.engine.dialect.name == "postgresql"
    calendar, limits, agencies, settings = _per_process(database)

    def start(data: dict[str, Any]) -> int:
        with database.engine.begin() as connection:
            actor = connection.execute(CALLER, {"username": username}).one()
            if not can_manage_projects(actor):
                raise PermissionError("only the coordinating agency starts processes")
            found = connection.execute(PROJECT_AND_LATEST, {"code": project_code, "key": process_key}).one()
            if not isinstance(data, dict) or any(key in data for key in RESERVED_START_KEYS):
                raise ValueError("data must be an object, without the keys the service sets")
            check_safe_data(data)
            if json_size(data) > limits.max_data_bytes:
                raise ValueError("data too large")
            use_calendar(calendar)
            runtime = runtime_for(found.d_checksum, _spec_of(connection, found.d_id), found.d_lane_routes, **settings)
            facts = {"project": project_facts(found)}
            workflow = runtime.new_workflow({**data, **facts})
            runtime.advance(workflow)
            state = runtime.dump(workflow)
            if len(state.encode()) > limits.max_state_bytes:
                raise ValueError("state too large")
            now = utcnow()
            instance = _new_row(
                INSTANCE,
                project_id=found.id,
                definition_id=found.d_id,
                status=InstanceStatus.RUNNING,
                state=state,
                state_format=STATE_FORMAT,
                next_timer_at=runtime.next_timer_due(workflow),
                started_at=now,
                started_by_id=actor.id,
                updated_at=now,
            )
            started = {"process_key": found.d_key, "version": found.d_version, "data": plain_json(data)}
            new_rows = [(instance, "instance.started", started)]
            for step in runtime.ready_steps(workflow):
                agency = agencies.get(runtime.route(step.lane, facts) or "")
                if agency is None or (runtime.routes(step.lane) and agency == actor.agency_code):
                    raise NotImplementedError("the prototype's first steps route to another agency")
                time_limit = step.properties.get("time_limit")
                limit, deadline = parse_time_limit(time_limit), due_for(calendar, now, time_limit)
                row = _new_row(TASK, **new_step_columns(step, agency, now, limit, deadline))
                new_rows.append((row, "task.created", {"bpmn_id": step.bpmn_id, "name": step.name, "agency": agency}))
            if len(new_rows) == 1 or runtime.is_completed(workflow):
                raise NotImplementedError("the prototype's start opens steps")
            shared = {"created_at": now, "actor_id": actor.id, "actor_name": actor.username, "project_id": found.id}
            instance_id = (_write_new_pg if postgres else _write_new_sqlite)(connection, new_rows, shared)
            WARM.keep(instance_id, state, runtime, workflow)
            return instance_id

    return start


def _new_row(table: Table, **values: Any) -> dict[str, Any]:
    """Every column of a new row but its id: the column's default (as the models set it) unless given."""
    row = {}
    for column in table.c:
        if column.name != "id":
            default: Any = column.default
            row[column.name] = None if default is None else default.arg if default.is_scalar else default.arg(None)
    return row | values


NewRows = list[tuple[dict[str, Any], str, dict[str, Any]]]  # (the instance's row, then its steps'), event, payload


def _write_new_sqlite(connection: Connection, new_rows: NewRows, shared: dict[str, Any]) -> int:
    """As events.record_new on SQLite: each row, then their events in one INSERT, their outbox rows in one."""
    instance_id = connection.execute(row_writes._insert(INSTANCE), new_rows[0][0]).scalar_one()
    written = []
    for row, type_, payload in new_rows:
        task_id = None
        if row is not new_rows[0][0]:
            task_id = connection.execute(row_writes._insert(TASK), row | {"instance_id": instance_id}).scalar_one()
        about = {"instance_id": instance_id, "task_id": task_id, "type": type_, "payload": payload, "request_id": None}
        written.append(shared | about)
    ids = sorted(connection.execute(events._statement_many(), written).scalars())
    boxed = [{"event_id": event_id, "created_at": shared["created_at"]} for event_id in ids]
    connection.execute(events._statement_outbox(), boxed)
    return int(instance_id)


def _write_new_pg(connection: Connection, new_rows: NewRows, shared: dict[str, Any]) -> int:
    """As events.record_new on PostgreSQL: every row, event and outbox row in one statement."""
    common = events._given(EVENT, shared | {"request_id": None}, set())
    params = _prefixed("e_", common)
    shapes = []
    for place, (row, type_, payload) in enumerate(new_rows):
        given = events._given(INSTANCE if place == 0 else TASK, row, {"instance_id"})
        params |= _prefixed(f"r{place}_", given) | {f"r{place}_e_type": type_, f"r{place}_e_payload": payload}
        shapes.append(tuple(given))
    statement = events._with_new_rows(True, tuple(shapes), tuple(common))
    return int(connection.execute(statement, params).one()[0])


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
    instance's status and version, its open items, the step's event and its outbox row."""
    ours, theirs = next(twins), next(twins)
    service(ours)
    prototype(theirs)
    with database.session(read_only=True) as session:
        _same("complete_task", [_completed(session, task_id) for task_id in (ours, theirs)])


def twin_check_start(database: Database, service: Callable[[], int], prototype: Callable[[], int]) -> None:
    """Start an instance with the service and one with the prototype, and fail unless both wrote the
    same: the instance's row and its steps' (but ids, times and the workflow's state), their events
    in order and the outbox rows."""
    ids = (service(), prototype())
    with database.session(read_only=True) as session:
        _same("start_instance", [_started(session, instance_id) for instance_id in ids])


_TIMES = {"id", "instance_id", "created_at", "claimed_at", "completed_at", "due_at", "spiff_task_id"}
_TIMES |= {"started_at", "updated_at", "state", "lock_version"}  # the instance's


def _same(what: str, seen: list[dict[str, Any]]) -> None:
    if seen[0] != seen[1]:
        raise AssertionError(f"the prototype writes otherwise than {what}:\n{seen[0]}\n{seen[1]}")


def _columns(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.c if c.name not in _TIMES}


def _events(session: Any, **about: Any) -> list[tuple[Any, ...]]:
    found = session.scalars(select(Event).filter_by(**about).order_by(Event.id))
    boxed = select(func.count()).select_from(OUTBOX)
    return [(e.type, e.actor_name, e.payload, session.scalar(boxed.where(OUTBOX.c.event_id == e.id))) for e in found]


def _completed(session: Any, task_id: int) -> dict[str, Any]:
    step = session.get(Task, task_id)
    instance = session.get(ProcessInstance, step.instance_id)
    return {
        "step": _columns(step),
        "instance": (instance.status, instance.lock_version, instance.state_format, instance.next_timer_at),
        "open": sorted((t.bpmn_id, t.state) for t in instance.tasks if t.is_open),
        "events": _events(session, task_id=task_id),
    }


def _started(session: Any, instance_id: int) -> dict[str, Any]:
    instance = session.get(ProcessInstance, instance_id)
    return {
        "instance": _columns(instance),
        "steps": [_columns(step) for step in instance.tasks],
        "events": _events(session, instance_id=instance_id),
    }
