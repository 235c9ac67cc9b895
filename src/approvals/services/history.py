"""An instance's history as a caller may read it.

Every signed-in user may follow where an instance stands (its events, who did what, when). What a
step was given and answered — its form data, written opinion, reason for sending back — follows
the step's read rule (``authz.can_read_task``); what identifies a file's content (its hash, field,
document number) and the start data and comments follow the materials' rule (the agencies taking
part, the coordinator, the read-all roles). Whatever a caller may not read is left out of the
payload, and the payload says which keys were left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..models import Event, Task, User
from .authz import can_read_task
from .instances import get_instance, instance_events
from .materials import can_read_materials

# Keys of an event's payload that only readers of its step may see.
STEP_KEYS = frozenset({"data", "opinion", "reason"})
# Keys that only those taking part in the instance may see (file fingerprints, start data, comments).
INSTANCE_KEYS = frozenset({"sha256", "document_number", "field", "data", "text"})


@dataclass(frozen=True)
class EventView:
    """An event as one caller sees it (dumped by the API's EventSchema, shown by the pages)."""

    id: int
    type: str
    created_at: datetime
    actor_name: str
    task_id: int | None
    payload: dict[str, Any]


def history(session: Session, instance_id: int, actor: User) -> list[EventView]:
    instance = get_instance(session, instance_id)  # held: the session keeps only what is referenced
    events = instance_events(session, instance_id)
    involved = can_read_materials(session, actor, instance_id)
    # Through the instance's relationship: a page that also draws them (the step's diagram) reads them once.
    steps = {task.id: task for task in instance.tasks}
    return [_view(event, actor, involved, steps) for event in events]


def _view(event: Event, actor: User, involved: bool, steps: dict[int, Task]) -> EventView:
    hidden: set[str] = set()
    step = steps.get(event.task_id) if event.task_id is not None else None
    if step is not None and not can_read_task(actor, step):
        hidden |= STEP_KEYS
    if not involved:
        hidden |= INSTANCE_KEYS
    payload = dict(event.payload or {})
    left_out = sorted(key for key in hidden if key in payload)
    for key in left_out:
        del payload[key]
    if left_out:
        payload["redacted"] = left_out
    return EventView(event.id, event.type, event.created_at, event.actor_name, event.task_id, payload)
