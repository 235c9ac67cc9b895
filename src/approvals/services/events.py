"""The audit trail: every change appends an event in the same transaction as the change, and the
same event to the outbox, from which the dispatcher delivers it to webhooks (services/dispatch.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..models import Event, OutboxMessage, ProcessInstance, Task, User
from ..request_context import REQUEST_ID


def record(
    session: Session,
    type_: str,
    actor: User | None,
    *,
    project_id: int | None = None,
    instance: ProcessInstance | None = None,
    task: Task | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    if instance is not None and project_id is None:
        project_id = instance.project_id
    event = Event(
        type=type_,
        actor_id=actor.id if actor else None,
        actor_name=actor.username if actor else "system",
        project_id=project_id,
        instance_id=instance.id if instance is not None else None,
        task_id=task.id if task is not None else None,
        payload=payload or {},
        request_id=REQUEST_ID.get(),
    )
    session.add(event)
    session.add(OutboxMessage(event=event))
    return event
