"""The audit trail: every change appends an event in the same transaction as the change, and the
same event to the outbox, from which the dispatcher delivers it to webhooks (services/dispatch.py).

Events are written with SQLAlchemy Core, not as ORM objects: on the hot path of every step they
cost the unit of work more than their SQL (issue 19). On PostgreSQL the event and its outbox row go
in one statement — with the new rows the events are about, when there are some (``record_new``: a
start writes its instance, its first steps and their events in one statement, a completion all the
steps it opens in one), and the event of a change to an existing row goes with that row's UPDATE
(``written_with_rows``, written by ``row_writes.flush``): a step completed or claimed costs one
round trip fewer."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import CTE, JSON, Insert, Select, Table, bindparam, insert, select
from sqlalchemy.orm import Session

from ..db import is_postgres
from ..models import Event, OutboxMessage, ProcessInstance, Task, User, utcnow
from ..request_context import REQUEST_ID
from . import row_writes

EVENT: Table = Event.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
INSTANCE: Table = ProcessInstance.__table__  # type: ignore[assignment]
TASK: Table = Task.__table__  # type: ignore[assignment]
COLUMNS = tuple(column.name for column in EVENT.c if column.name != "id")


def record(
    session: Session,
    type_: str,
    actor: User | None,
    *,
    project_id: int | None = None,
    instance: ProcessInstance | None = None,
    task: Task | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Append event ``type_`` (and its outbox row) now; returns its id."""
    if (instance is not None and instance.id is None) or (task is not None and task.id is None):
        session.flush()  # the event names rows the unit of work has not written yet
    values = _values(type_, actor, project_id, instance, task, payload)
    postgres = is_postgres(session)
    # On the session's connection, not through it: an event names rows by id, so it needs no
    # autoflush of the rows changed so far (the change writes them once, services/row_writes.py).
    connection = session.connection()
    event_id: int = connection.execute(_statement(postgres), values).scalar_one()
    if not postgres:
        connection.execute(_statement_outbox(), {"event_id": event_id, "created_at": values["created_at"]})
    return event_id


class NewRow(NamedTuple):
    """A new row of a change — its instance just started, or a step of it — and the event about it."""

    row: ProcessInstance | Task
    type: str
    payload: dict[str, Any]


def record_new(session: Session, rows: Sequence[NewRow], actor: User | None, *, instance: ProcessInstance) -> None:
    """Write the new ``rows`` of a change to ``instance`` — the instance itself first when it is
    new, then new steps, whose ``instance_id`` is filled in then — each with its event, in their
    order: on PostgreSQL all of them, events and outbox rows included, in one statement; on SQLite
    each row, then their events in one statement and their outbox rows in one."""
    if not rows:
        return
    new_instance = rows[0].row is instance and instance.id is None
    steps = rows[1:] if new_instance else rows
    if not all(isinstance(new.row, Task) for new in steps):
        raise TypeError("a change writes new steps of its instance, after the instance when it is new")
    if not is_postgres(session):
        for new in rows:
            if isinstance(new.row, Task):
                new.row.instance_id = instance.id
            row_writes.insert_row(session, new.row)
        events = [
            _values(new.type, actor, None, instance, new.row if isinstance(new.row, Task) else None, new.payload)
            for new in rows
        ]
        connection = session.connection()
        # SQLite numbers the rows of one INSERT in their order, so their ids sorted are the events' in order.
        ids = sorted(connection.execute(_statement_many(), events).scalars())
        boxed = [{"event_id": i, "created_at": event["created_at"]} for i, event in zip(ids, events, strict=True)]
        connection.execute(_statement_outbox(), boxed)
        return
    # What the events share (who, when, about which instance) is passed once; each has its type and payload.
    named = {"instance_id"} if new_instance else set()  # named by the statement: the new instance
    shared = _given(EVENT, _values("", actor, None, instance, None, None), named | {"task_id", *_OWN})
    params: dict[str, Any] = {f"e_{name}": value for name, value in shared.items()}
    shapes = []
    for place, new in enumerate(rows):
        table: Table = new.row.__table__  # type: ignore[assignment]
        # A step names its instance as the statement does: the new instance's id, or the events' e_instance_id.
        row_values = _given(table, row_writes.values_to_insert(new.row), {"instance_id"})
        params.update((f"r{place}_{name}", value) for name, value in row_values.items())
        params.update({f"r{place}_e_type": new.type, f"r{place}_e_payload": new.payload})
        shapes.append(tuple(row_values))
    written = session.connection().execute(_with_new_rows(new_instance, tuple(shapes), tuple(shared)), params).one()
    # Each row's id, then its event's and its outbox row's (see _with_new_rows).
    for place, new in enumerate(rows):
        if isinstance(new.row, Task):
            new.row.instance_id = written[0] if new_instance else instance.id
        row_writes.attach(session, new.row, written[3 * place])


_OWN = ("type", "payload")  # the columns of an event not shared with the others of its change


def _given(table: Table, values: dict[str, Any], named: set[str]) -> dict[str, Any]:
    """The ``values`` a new row's statement passes: not those it ``named`` itself, nor NULLs the
    database writes anyway (a column without a default; JSON's None is JSON null, so it is passed).
    Fewer parameters keep the statement under psycopg's limit for caching its conversion (50)."""
    return {
        name: value
        for name, value in values.items()
        if name not in named
        and (value is not None or table.c[name].server_default is not None or isinstance(table.c[name].type, JSON))
    }


def written_with_rows(
    type_: str,
    actor: User | None,
    *,
    instance: ProcessInstance,
    task: Task | None = None,
    payload: dict[str, Any] | None = None,
) -> row_writes.Pending:
    """Event ``type_`` (and its outbox row) as an insert for ``row_writes.flush`` to send in the
    statement that writes the changed rows (PostgreSQL)."""
    return row_writes.Pending(_with_outbox, _values(type_, actor, None, instance, task, payload))


def _values(
    type_: str,
    actor: User | None,
    project_id: int | None,
    instance: ProcessInstance | None,
    task: Task | None,
    payload: dict[str, Any] | None,
) -> dict[str, Any]:
    if instance is not None and project_id is None:
        project_id = instance.project_id
    return {
        "created_at": utcnow(),
        "type": type_,
        "actor_id": actor.id if actor else None,
        "actor_name": actor.username if actor else "system",
        "project_id": project_id,
        "instance_id": instance.id if instance is not None else None,
        "task_id": task.id if task is not None else None,
        "payload": payload or {},
        "request_id": REQUEST_ID.get(),
    }


# Built once: building a statement costs about as much as running it.
@cache
def _statement(postgres: bool) -> Insert:
    if postgres:
        return _with_outbox("").returning(OUTBOX.c.event_id)
    return insert(EVENT).values({name: bindparam(name) for name in COLUMNS}).returning(EVENT.c.id)


@cache
def _with_outbox(prefix: str) -> Insert:
    """``WITH {prefix}written AS (INSERT INTO event … RETURNING id, created_at) INSERT INTO outbox …``
    (PostgreSQL), its parameters named ``prefix`` + column."""
    values = {name: bindparam(prefix + name, type_=EVENT.c[name].type) for name in COLUMNS}
    return _to_outbox(insert(EVENT).values(values).returning(EVENT.c.id, EVENT.c.created_at).cte(f"{prefix}written"))


@cache
def _statement_many() -> Insert:
    """Several events in one ``INSERT … VALUES (…), (…) RETURNING id`` (SQLAlchemy's "insertmanyvalues";
    asking it for the ids in the rows' order would make it send one statement per row on SQLite)."""
    return insert(EVENT).returning(EVENT.c.id)


@cache
def _statement_outbox() -> Insert:
    return insert(OUTBOX).values(event_id=bindparam("event_id"), created_at=bindparam("created_at"))


@cache
def _with_new_rows(new_instance: bool, shapes: tuple[tuple[str, ...], ...], shared: tuple[str, ...]) -> Select[Any]:
    """``WITH r0 AS (INSERT … RETURNING id), r0_e AS (INSERT INTO event …), r0_b AS (INSERT INTO
    outbox …), r1 AS …  SELECT (SELECT id FROM r0), (SELECT id FROM r0_e), (SELECT event_id FROM
    r0_b), …`` (PostgreSQL): with ``new_instance`` the first row is the instance and the steps
    after it name it by the id it gets (else by the events' ``instance_id``); each event names its
    row. ``shapes``: for each row, its columns given as parameters ``r{place}_`` + column;
    ``shared``: the events' columns given once as ``e_`` + column, each event's type and payload as
    ``r{place}_e_`` + column.

    PostgreSQL promises no order among data-modifying CTEs, but runs each when it is first read;
    the main query reads them all in the rows' order, so the events' and the outbox rows' ids
    follow the rows' (the history and the webhooks go by them)."""
    instance_id: Any = None  # a new instance's id, as the statement names it
    common = {name: bindparam(f"e_{name}", type_=EVENT.c[name].type) for name in shared}
    selected: list[Any] = []
    stmt = select()
    for place, columns in enumerate(shapes):
        table = INSTANCE if new_instance and place == 0 else TASK
        values: dict[str, Any] = {name: bindparam(f"r{place}_{name}", type_=table.c[name].type) for name in columns}
        if table is TASK:
            values["instance_id"] = instance_id if instance_id is not None else common["instance_id"]
        row = insert(table).values(values).returning(table.c.id).cte(f"r{place}")
        row_id = select(row.c.id).scalar_subquery()
        if table is INSTANCE:
            instance_id = row_id
        own = {name: bindparam(f"r{place}_e_{name}", type_=EVENT.c[name].type) for name in _OWN}
        event: dict[str, Any] = common | own
        if table is TASK:
            event["task_id"] = row_id
        if instance_id is not None:
            event["instance_id"] = instance_id
        written = insert(EVENT).values(event).returning(EVENT.c.id, EVENT.c.created_at).cte(f"r{place}_e")
        boxed = _to_outbox(written).returning(OUTBOX.c.event_id).cte(f"r{place}_b")
        stmt = stmt.add_cte(row, written, boxed)
        selected += [row_id, select(written.c.id).scalar_subquery(), select(boxed.c.event_id).scalar_subquery()]
    return stmt.add_columns(*selected)


def _to_outbox(written: CTE) -> Insert:
    """The outbox row of each event ``written`` (a CTE returning the events' id and created_at)."""
    return insert(OUTBOX).from_select(["event_id", "created_at"], select(written.c.id, written.c.created_at))
