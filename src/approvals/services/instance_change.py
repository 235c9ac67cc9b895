"""One unit of work for every change to a process instance.

Complete, send back, fire timers, escalate, suspend, resume and terminate each change an instance
the same way: lock the instance row (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the write
transaction itself began with ``BEGIN IMMEDIATE``), re-read its open work items under that lock,
run the engine, then save the workflow, bring the task rows in line with its ready steps and append
the events — all in the caller's transaction. ``lock_version`` is bumped on save, so a writer that
slipped past the lock would fail, never win. Retry, modify and migrate go through here too. The
change's own events (``change.record``) go with its rows' UPDATE on PostgreSQL: one statement
writes a completed step, its instance and its event.

    with changing_task(session, task_id, actor) as change:
        ...checks on change.task...
        change.advance(lambda workflow: change.runtime.complete(workflow, ...))
        change.close_step(change.task, ...)
    return change.instance, change.open_after
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, aliased, joinedload, undefer
from sqlalchemy.orm.attributes import set_committed_value

from ..db import is_postgres
from ..engine.data import plain_json
from ..engine.errors import EngineFailure
from ..engine.runtime import ModelRuntime, ReadyStep
from ..engine.serializer import STATE_FORMAT
from ..engine.warm import WARM
from ..models import (
    SENT_BACK,
    InstanceStatus,
    Outcome,
    ProcessDefinition,
    ProcessInstance,
    Task,
    TaskKind,
    TaskState,
    User,
    utcnow,
)
from ..text import Message, msg
from ..workdays import Deadline
from . import events, incidents, reference, row_writes
from .agencies import lane_agencies
from .authz import can_read_task, require
from .calendar_years import calendar_of
from .deadlines import counted_workdays, due_for, parse_time_limit, used_before_send_back
from .definitions import runtime_of
from .errors import Conflict, InvalidInput, NotFound
from .limits import limits_of
from .projects import project_facts

T = TypeVar("T")

# -- locking -------------------------------------------------------------------------------------


def lock_instance(session: Session, instance_id: int) -> tuple[ProcessInstance, bool]:
    """The instance, loaded for change and locked until the transaction ends (404 when unknown),
    and whether a step of it was ever sent back (see ``_EVER_SENT_BACK``). The same statement
    reads the reference revision, so cached calendars and directories need no other."""
    row = session.execute(_lock_statement(is_postgres(session)), {"instance_id": instance_id}).one_or_none()
    if row is None:
        raise NotFound(f"process instance {instance_id} not found")
    instance, revision, ever_sent_back = row
    reference.note_revision(session, revision)
    return instance, bool(ever_sent_back)


# Read with the lock: a step that opens in an instance never sent back (退回) has used none of its
# time limit yet, so its deadline needs no history (``used_before_send_back``): a statement fewer
# on most changes that open steps. Asked through the partial index on the steps sent back
# (``SENT_BACK`` names the outcome in the SQL text), not the instance's whole history.
_sent_back_run = aliased(Task)
_EVER_SENT_BACK = (
    select(_sent_back_run.id)
    .where(_sent_back_run.instance_id == ProcessInstance.id, _sent_back_run.outcome == SENT_BACK)
    .exists()
    .label("ever_sent_back")
)


# The statements of every instance change are built once (building one costs about as much as
# running it); SQLAlchemy then finds their compiled form in its cache.
@cache
def _lock_statement(for_update: bool) -> Select[Any]:
    return _locked(
        select(ProcessInstance, reference.REVISION, _EVER_SENT_BACK).where(
            ProcessInstance.id == bindparam("instance_id")
        ),
        for_update,
    )


def _locked(stmt: Select[Any], for_update: bool) -> Select[Any]:
    """``stmt`` reading the instance for a change: with its state, definition and project, read
    afresh, and locked (``FOR UPDATE OF process_instance``) where the database has row locks."""
    stmt = stmt.options(
        undefer(ProcessInstance.state), joinedload(ProcessInstance.definition), joinedload(ProcessInstance.project)
    ).execution_options(populate_existing=True)
    return stmt.with_for_update(of=ProcessInstance) if for_update else stmt


# -- reading work items --------------------------------------------------------------------------


def open_tasks(session: Session, instance_id: int, kind: TaskKind | None = None) -> list[Task]:
    """The open work items of an instance: its steps and any reminders about them (with the
    people on them loaded, as every caller shows or checks them)."""
    stmt = select(Task).where(Task.instance_id == instance_id, Task.is_open)
    if kind is not None:
        stmt = stmt.where(Task.kind == kind)
    return list(session.scalars(stmt.options(joinedload(Task.assignee)).order_by(Task.id)))


def _lock_with_task(session: Session, task_id: int) -> tuple[ProcessInstance, bool, Task, list[Task]]:
    """Lock the instance of task ``task_id`` as ``lock_instance`` does and, in the same statement,
    read its open items (as ``open_tasks``) afresh, the task among them unless it is finished
    (then read by its key): 404 when the task is unknown."""
    rows = session.execute(_lock_with_task_statement(is_postgres(session)), {"task_id": task_id}).all()
    if not rows:
        raise NotFound(msg("task {task_id} not found", task_id=task_id))
    instance, revision, ever_sent_back, _ = rows[0]
    reference.note_revision(session, revision)
    # In their order here, not by the statement: asked for an order by id, a planner may walk the
    # whole table in that order rather than look the instance's few open rows up.
    items = sorted((row[-1] for row in rows if row[-1] is not None), key=lambda row: row.id)
    task = next((row for row in items if row.id == task_id), None)
    if task is None:  # finished: the change will say so
        task = session.get(Task, task_id, options=[joinedload(Task.assignee)], populate_existing=True)
        if task is None:
            raise NotFound(msg("task {task_id} not found", task_id=task_id))
    for row in (*items, task):  # what the caller answers with names the instance: no need to read it again
        set_committed_value(row, "instance", instance)
    return instance, bool(ever_sent_back), task, items


@cache
def _lock_with_task_statement(for_update: bool) -> Select[Any]:
    by_id = aliased(Task)  # not correlated with the items joined
    instance_id = select(by_id.instance_id).where(by_id.id == bindparam("task_id")).scalar_subquery()
    # The instance's open items, through their partial index (``Task.is_open`` names the states in
    # the SQL text): a few rows, never the instance's whole history. Outer: an instance may have none.
    stmt = (
        select(ProcessInstance, reference.REVISION, _EVER_SENT_BACK, Task)
        .outerjoin(Task, (Task.instance_id == ProcessInstance.id) & Task.is_open)
        .where(ProcessInstance.id == instance_id)
        .options(joinedload(Task.assignee))
    )
    return _locked(stmt, for_update)


# -- the unit of work ----------------------------------------------------------------------------


class InstanceChange:
    """A change to one locked instance within the caller's transaction; saved by ``save`` (the
    context managers below call it when their block ends without an exception)."""

    def __init__(
        self,
        session: Session,
        instance: ProcessInstance,
        actor: User | None,
        *,
        open_items: list[Task] | None = None,
        task: Task | None = None,
        ever_sent_back: bool = True,
    ):
        self.session = session
        self.instance = instance
        self.actor = actor
        # Whether a step of the instance was sent back, before or by this change (True when not
        # known): if not, the steps it opens start their time limits afresh.
        self.ever_sent_back = ever_sent_back
        self._task = task  # the work item the change came through, if any
        self._open_items = open_items  # read under the lock (None: read when needed)
        self._runtime: ModelRuntime | None = None
        self._workflow: Any = None
        self.failure: EngineFailure | None = None
        self.failure_kind, self.failure_attempts = "engine", 1  # what the incident says of a failure
        self.cancel_reason: str = msg("no longer reachable")  # said of the steps the engine dropped
        self._open_after: list[Task] | None = None
        self._unchanged = False
        self._started: dict[str, Any] | None = None  # a new instance's start event (new_instance_change)
        self._events: list[row_writes.Pending] = []  # recorded, written with the rows (PostgreSQL)

    @property
    def task(self) -> Task:
        """The work item the change came through (``changing_task``)."""
        if self._task is None:
            raise TypeError("this change did not come through a task")
        return self._task

    @property
    def runtime(self) -> ModelRuntime:
        if self._runtime is None:  # also sets the calendar the engine's working-day timers use
            self._runtime = runtime_of(self.session, self.instance.definition)
        return self._runtime

    @property
    def workflow(self) -> Any:
        if self._workflow is None:
            try:
                warm = WARM.take(self.instance.id, self.instance.state, self.runtime)
                self._workflow = warm if warm is not None else self.runtime.load(self.instance.state)
            except Exception as exc:  # noqa: BLE001 - whatever broke the saved state, say so, never a 500
                raise Conflict(
                    msg(
                        "the saved state of instance {instance_id} cannot be read ({name}: {exc}); "
                        "nothing can run it any more: terminate it",
                        instance_id=self.instance.id,
                        name=type(exc).__name__,
                        exc=exc,
                    )
                ) from None
        return self._workflow

    @workflow.setter
    def workflow(self, workflow: Any) -> None:
        self._workflow = workflow

    def move_to(self, definition: ProcessDefinition, workflow: Any) -> None:
        """The instance runs on ``definition`` from now on, as ``workflow`` (migrated onto it)."""
        self.instance.definition = definition
        self._runtime = runtime_of(self.session, definition)
        self._workflow = workflow

    @property
    def open_items(self) -> list[Task]:
        """The instance's open work items, read under the lock once and kept current by this change."""
        if self._open_items is None:
            self._open_items = open_tasks(self.session, self.instance.id)
        return [row for row in self._open_items if row.is_open]

    @property
    def open_after(self) -> list[Task]:
        """The instance's open items once the change is saved."""
        return self._open_after if self._open_after is not None else self.open_items

    def record(self, type_: str, *, task: Task | None = None, payload: dict[str, Any] | None = None) -> None:
        """Event ``type_`` of this change (by its actor, about its instance and ``task``): on
        PostgreSQL written with the change's rows when it is saved, in their statement; on SQLite now.
        An event recorded by ``events.record`` meanwhile comes first in the history (see close_step)."""
        if is_postgres(self.session):
            self._events.append(
                events.written_with_rows(type_, self.actor, instance=self.instance, task=task, payload=payload)
            )
        else:
            events.record(self.session, type_, self.actor, instance=self.instance, task=task, payload=payload)

    def _flush(self) -> None:
        """Write the changed rows, with the events recorded so far."""
        pending, self._events = self._events, []
        row_writes.flush(self.session, pending)

    def advance(self, engine_work: Callable[[Any], T]) -> T | None:
        """Run engine work on the workflow. An engine failure is kept, not raised: the change is
        still saved and the instance goes to ``error`` with the failure's element. Other
        exceptions (the engine refusing the request) propagate and nothing is saved."""
        try:
            return engine_work(self.workflow)
        except EngineFailure as exc:
            self.failure = exc
            return None

    def close_step(
        self,
        task: Task,
        *,
        outcome: str | None,
        opinion: str | None,
        submitted_data: dict[str, Any],
        on_behalf_of: User | None,
        event: str,
        payload: dict[str, Any],
    ) -> None:
        """The step is done (completed, or sent back from): who did it, for whom, what was decided,
        the working days it counted; its event, and its reminders closed."""
        now = utcnow()
        self.ever_sent_back |= outcome == Outcome.SENT_BACK
        task.state = TaskState.COMPLETED
        task.completed_at = now
        task.completed_by = self.actor
        task.on_behalf_of = on_behalf_of
        if task.assignee is None:
            task.assignee = self.actor
            task.claimed_at = now
        task.outcome = outcome
        task.opinion = opinion
        task.submitted_data = submitted_data
        task.counted_workdays = counted_workdays(calendar_of(self.session), task, now)
        self.record(
            event,
            task=task,
            payload={
                "bpmn_id": task.bpmn_id,
                "name": task.name,
                **payload,
                "on_behalf_of": on_behalf_of.username if on_behalf_of else None,
            },
        )
        if task.escalated_at is not None:  # its reminders are cancelled after it, in the history too
            self._flush()
        close_reminders(self.session, self.instance, task, self.actor)

    def leave_unchanged(self) -> None:
        """Nothing to do after all (another worker got there first, a claim already held): save
        nothing, events recorded included."""
        self._unchanged, self._events = True, []

    def save(self) -> None:
        """Save what changed. When the engine ran: store the workflow, bring task rows in line with
        its ready steps, and finish or fail the instance (``open_after`` then says what is open)."""
        if self._unchanged:
            return
        self.instance.updated_at = utcnow()
        if self._workflow is None:  # rows and status only (claim, escalate, suspend…)
            self._flush()
            return
        runtime, workflow = self.runtime, self._workflow
        state = runtime.dump(workflow)
        saved_as_is = True  # the state stored is this workflow's
        limit, size = limits_of(self.session).max_state_bytes, len(state.encode())  # as stored: UTF-8
        if size > limit:  # the instance's data is bounded, as each request's is
            message = f"the instance's data would grow to {size} bytes; at most {limit} are kept"
            if self.actor is not None:  # someone's submission did it: refuse it, change nothing
                raise InvalidInput(message, {"data": [message]})
            self.failure, state = EngineFailure(message, None), self.instance.state  # keep what was saved
            saved_as_is = False
        # Set before the rows are synced, and an instance already written updated right after (one
        # UPDATE with the step the change came through): the sync below then adds only new rows.
        self.instance.state = state
        self.instance.state_format = STATE_FORMAT
        self.instance.next_timer_at = runtime.next_timer_due(workflow)
        new_rows: list[events.NewRow] = []
        if self.instance.id is None:  # just started: written with its first steps, below
            new_rows.append(events.NewRow(self.instance, "instance.started", self._started or {}))
        else:  # the instance and the step the change came through, now: before any query would autoflush them
            self._flush()
        still_open: list[Task] | None = None
        if self.failure is None:
            try:
                still_open, created = _sync_tasks(self, runtime, workflow)
                new_rows += created
            except EngineFailure as exc:
                self.failure = exc
        events.record_new(self.session, new_rows, self.actor, instance=self.instance)
        if self.failure is not None:
            fail(self.session, self.instance, self.failure, self.actor, self.failure_kind, self.failure_attempts)
        elif runtime.is_completed(workflow):
            end = runtime.reached_end(workflow)
            self.instance.status = InstanceStatus.COMPLETED
            self.instance.result = end[1] if end else None
            self.instance.ended_at = utcnow()
            self.instance.next_timer_at = None
            result = {"end_event": end[0] if end else None, "result": self.instance.result}
            self.record("instance.completed", payload=result)
        self._flush()
        if saved_as_is:
            WARM.keep(self.instance.id, state, runtime, workflow)
        self._open_after = still_open if still_open is not None else open_tasks(self.session, self.instance.id)


@contextmanager
def changing_instance(session: Session, instance_id: int, actor: User | None) -> Iterator[InstanceChange]:
    """Lock instance ``instance_id`` and change it; saved when the block ends normally."""
    instance, ever_sent_back = lock_instance(session, instance_id)
    change = InstanceChange(session, instance, actor, ever_sent_back=ever_sent_back)
    yield change
    change.save()


@contextmanager
def changing_task(session: Session, task_id: int, actor: User) -> Iterator[InstanceChange]:
    """Lock the instance of task ``task_id`` and change it through that task (``change.task``,
    read afresh under the lock with the instance's open items), which ``actor`` must be allowed to
    see (403 otherwise); saved when the block ends normally."""
    instance, ever_sent_back, task, items = _lock_with_task(session, task_id)
    require(
        can_read_task(actor, task),
        msg("task {task_id} belongs to agency {agency_code}", task_id=task_id, agency_code=task.agency_code),
    )
    change = InstanceChange(session, instance, actor, open_items=items, task=task, ever_sent_back=ever_sent_back)
    yield change
    change.save()


def new_instance_change(
    session: Session,
    instance: ProcessInstance,
    runtime: ModelRuntime,
    workflow: Any,
    actor: User | None,
    failure: EngineFailure | None,
    started: dict[str, Any],
) -> InstanceChange:
    """The first change of an instance just started (nothing to lock: no one else can see it yet);
    ``started``: the payload of its ``instance.started`` event, recorded once the instance is written."""
    change = InstanceChange(session, instance, actor, open_items=[], ever_sent_back=False)
    change._runtime, change._workflow, change.failure = runtime, workflow, failure
    change._started = started
    return change


def fail(
    session: Session,
    instance: ProcessInstance,
    failure: EngineFailure,
    actor: User | None,
    kind: str = "engine",
    attempts: int = 1,
) -> None:
    """The instance stops in error: its status says why, and an incident is opened (or counted)."""
    instance.status = InstanceStatus.ERROR
    instance.error_message = str(failure)
    instance.error_element = failure.element
    incident = incidents.record(session, instance, failure, kind, attempts)
    events.record(
        session,
        "instance.error",
        actor,
        instance=instance,
        payload={"message": str(failure), "element": failure.element, "incident": incident.id},
    )


def close_reminders(session: Session, instance: ProcessInstance, step: Task, actor: User | None) -> None:
    """A step that is done (or cancelled) needs no more reminding (only escalated steps have reminders)."""
    if step.escalated_at is None:
        return
    # By instance too: its open items are indexed (ix_task_open); the reminders of one step are not.
    reminders = select(Task).where(Task.instance_id == instance.id, Task.reminder_for_id == step.id, Task.is_open)
    for reminder in session.scalars(reminders):
        cancel(
            session, instance, reminder, actor, msg("“{name}” is {state}", name=step.name, state=msg(str(step.state)))
        )


def cancel(session: Session, instance: ProcessInstance, row: Task, actor: User | None, reason: str) -> None:
    """Close a work item nobody has to do any more, saying why in the history."""
    row.state = TaskState.CANCELLED
    row.completed_at = utcnow()
    events.record(
        session,
        "task.cancelled",
        actor,
        instance=instance,
        task=row,
        payload={
            "bpmn_id": row.bpmn_id,
            "reason": reason,
            **({"reason_message": reason.as_json()} if isinstance(reason, Message) else {}),
        },
    )


def _sync_tasks(change: InstanceChange, runtime: ModelRuntime, workflow: Any) -> tuple[list[Task], list[events.NewRow]]:
    """Cancel rows whose step is gone, and make rows for new READY steps; returns the open items
    and the new rows, with their events, for the caller to write (``events.record_new``)."""
    session, instance, actor = change.session, change.instance, change.actor
    ready = runtime.ready_steps(workflow)
    ready_ids = {step.task_id for step in ready}
    # Steps and reminders: what is open afterwards comes from these. Rows read earlier under the
    # lock are the same objects the change closed since, so their state says which are still open.
    items = change.open_items
    rows = [row for row in items if row.is_step]
    known = {row.spiff_task_id for row in rows}
    # Route every new step before changing anything, so a routing failure leaves no half-made rows.
    new_steps = [step for step in ready if step.task_id not in known]
    agencies = lane_agencies(session) if new_steps else {}
    # A routing lane reads the project's recorded facts only (never data an applicant could set),
    # and it picks a reviewer: never the agency that started the instance.
    facts = {"project": project_facts(instance.project)} if new_steps else {}
    routed = []
    for step in new_steps:
        target = runtime.route(step.lane, facts)
        agency = agencies.get(target or "")
        if agency is not None and runtime.routes(step.lane) and agency == _starter_agency(session, instance):
            raise EngineFailure(
                f"step {step.bpmn_id!r}: lane {step.lane!r} routed it to {agency}, the agency that started the "
                "process; a routing lane must route to another agency",
                step.bpmn_id,
            )
        if agency is None:
            raise EngineFailure(
                f"step {step.bpmn_id!r}: lane {step.lane!r} names no known agency"
                + (f" (routed to {target!r})" if target != step.lane else ""),
                step.bpmn_id,
            )
        routed.append((step, agency))
    for row in rows:
        if row.spiff_task_id not in ready_ids:
            cancel(session, instance, row, actor, change.cancel_reason)
            close_reminders(session, instance, row, actor)
    now = utcnow()
    created: list[Task] = []
    calendar = calendar_of(session) if routed else None
    limits = {step.task_id: parse_time_limit(step.properties.get("time_limit")) for step, _ in routed}
    limited = {step.bpmn_id: limit[1] for step, _ in routed if (limit := limits[step.task_id])}
    # In an instance with no step sent back, none of these has used any of its limit: no history to read.
    used = used_before_send_back(session, instance.id, limited) if change.ever_sent_back else dict.fromkeys(limited, 0)
    for step, agency in routed:
        time_limit = step.properties.get("time_limit")
        limit = limits[step.task_id]
        if limit:  # a step sent back earlier resumes its clock (working or calendar days) with what is left
            limit = (max(limit[0] - used[step.bpmn_id], 0), limit[1])
        deadline = due_for(calendar, now, f"{limit[0]}{limit[1]}" if limit else time_limit) if calendar else None
        # instance_id None for a new instance: filled in as it is written
        created.append(Task(instance_id=instance.id, **new_step_columns(step, agency, now, limit, deadline)))
    new_rows = [
        events.NewRow(row, "task.created", {"bpmn_id": row.bpmn_id, "name": row.name, "agency": row.agency_code})
        for row in created
    ]
    return [row for row in items if row.is_open] + created, new_rows


def new_step_columns(
    step: ReadyStep, agency: str, now: datetime, limit: tuple[int, str] | None, deadline: Deadline | None
) -> dict[str, Any]:
    """The columns of the row a step opens, but its instance: routed to ``agency`` at ``now``, with
    the time ``limit`` it has left (None: none) and the ``deadline`` that gives."""
    return {
        "spiff_task_id": step.task_id,
        "bpmn_id": step.bpmn_id,
        "name": step.name,
        "stage": step.stage,
        "lane": step.lane,
        "agency_code": agency,
        "form": step.form,
        "documentation": step.documentation,
        "state": TaskState.OPEN,
        "created_at": now,
        "input_data": plain_json(step.data),
        "time_limit": step.properties.get("time_limit"),
        "due_at": deadline.end_of_day_utc() if deadline else None,
        "due_provisional": bool(deadline and deadline.provisional),
        "limit_workdays": limit[0] if limit and limit[1] == "WD" else None,
        "statutory": limit is not None and step.properties.get("clock") != "stopped",
        "excluded_steps": step.excluded_steps,
    }


def _starter_agency(session: Session, instance: ProcessInstance) -> str | None:
    starter = session.get(User, instance.started_by_id) if instance.started_by_id is not None else None
    return starter.agency_code if starter is not None else None
