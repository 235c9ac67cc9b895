"""The audit trail: every change appends an event in the same transaction as the change, and the
same event to the outbox, from which the dispatcher delivers it to webhooks (services/dispatch.py).

Events are written with SQLAlchemy Core, not as ORM objects: on the hot path of every step they
cost the unit of work more than their SQL (issue 19). On PostgreSQL the event and its outbox row go
in one statement — with the new instance or step the event is about, when there is one
(``record_new``: a start writes its instance and first step in two statements, not six), and the
event of a change to an existing row goes with that row's UPDATE (``written_with_rows``, written by
``row_writes.flush``): a step completed or claimed costs one round trip fewer."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import CTE, Insert, Select, Table, bindparam, insert, select
from sqlalchemy.orm import Session

from ..db import is_postgres
from ..models import Event, OutboxMessage, ProcessInstance, Task, User, utcnow
from ..request_context import REQUEST_ID
from . import row_writes

EVENT: Table = Event.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
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


def record_new(
    session: Session,
    row: ProcessInstance | Task,
    type_: str,
    actor: User | None,
    *,
    instance: ProcessInstance,
    payload: dict[str, Any],
) -> None:
    """Write the new ``row`` — ``instance`` itself, or a step of it — (``row_writes.insert_row``) and
    append event ``type_`` about it: on PostgreSQL in one statement with the event and its outbox row."""
    task = row if isinstance(row, Task) else None
    if not is_postgres(session):
        row_writes.insert_row(session, row)
        record(session, type_, actor, instance=instance, task=task, payload=payload)
        return
    link = "task_id" if task is not None else "instance_id"  # the column that names the new row
    event = _values(type_, actor, None, instance, None, payload)
    params = {f"row_{name}": value for name, value in row_writes.values_to_insert(row).items()}
    params.update((f"event_{name}", value) for name, value in event.items() if name != link)
    table: Table = row.__table__  # type: ignore[assignment]
    row_writes.attach(session, row, session.connection().execute(_with_new_row(table, link), params).scalar_one())


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
def _statement_outbox() -> Insert:
    return insert(OUTBOX).values(event_id=bindparam("event_id"), created_at=bindparam("created_at"))


@cache
def _with_new_row(table: Table, link: str) -> Select[Any]:
    """``WITH new_row AS (INSERT … RETURNING id), written AS (INSERT INTO event … FROM new_row),
    boxed AS (INSERT INTO outbox … FROM written) SELECT id FROM new_row`` (PostgreSQL): the event
    names the new row by ``link`` (its ``instance_id`` or ``task_id``)."""
    new_row = (
        insert(table)
        .values({c.name: bindparam(f"row_{c.name}", type_=c.type) for c in table.c if c.name != "id"})
        .returning(table.c.id)
        .cte("new_row")
    )
    event = [new_row.c.id if name == link else bindparam(f"event_{name}", type_=EVENT.c[name].type) for name in COLUMNS]
    written = (
        insert(EVENT)
        .from_select(list(COLUMNS), select(*event).select_from(new_row))
        .returning(EVENT.c.id, EVENT.c.created_at)
        .cte("written")
    )
    return select(new_row.c.id).add_cte(_to_outbox(written).cte("boxed"))


def _to_outbox(written: CTE) -> Insert:
    """The outbox row of each event ``written`` (a CTE returning the events' id and created_at)."""
    return insert(OUTBOX).from_select(["event_id", "created_at"], select(written.c.id, written.c.created_at))
