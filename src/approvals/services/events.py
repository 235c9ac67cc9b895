"""The audit trail: every change appends an event in the same transaction as the change, and the
same event to the outbox, from which the dispatcher delivers it to webhooks (services/dispatch.py).

Events are written with SQLAlchemy Core, not as ORM objects: on the hot path of every step they
cost the unit of work more than their SQL (issue 19). On PostgreSQL the event and its outbox row go
in one statement."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert, select
from sqlalchemy.orm import Session

from ..db import is_postgres
from ..models import Event, OutboxMessage, ProcessInstance, Task, User, utcnow
from ..request_context import REQUEST_ID

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
    if instance is not None and project_id is None:
        project_id = instance.project_id
    values = {
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
    postgres = is_postgres(session)
    # On the session's connection, not through it: an event names rows by id, so it needs no
    # autoflush of the rows changed so far (the change writes them once, services/row_writes.py).
    connection = session.connection()
    event_id: int = connection.execute(_statement(postgres), values).scalar_one()
    if not postgres:
        connection.execute(_statement_outbox(), {"event_id": event_id, "created_at": values["created_at"]})
    return event_id


# Built once: building a statement costs about as much as running it.
@cache
def _statement(postgres: bool) -> Insert:
    event = insert(EVENT).values({name: bindparam(name) for name in COLUMNS}).returning(EVENT.c.id)
    if not postgres:
        return event
    written = event.cte("written")
    return (
        insert(OUTBOX)
        .from_select(
            ["event_id", "created_at"], select(written.c.id, bindparam("created_at", type_=OUTBOX.c.created_at.type))
        )
        .returning(OUTBOX.c.event_id)
    )


@cache
def _statement_outbox() -> Insert:
    return insert(OUTBOX).values(event_id=bindparam("event_id"), created_at=bindparam("created_at"))
