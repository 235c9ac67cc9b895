"""Messages from outside: the applicant's or another agency's system delivers a BPMN message (a
correction resubmitted, a bid, an objection) to the instance that waits for it at a message catch
event or a receive task. The sender is a user of an agency (in practice a service account with a
token of scope ``messages``): it may deliver only to an element in its own agency's lane (admins to
any). Nothing waiting: 404; the instance not running: 409; the data is checked as any process data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine.errors import UnsafeData
from ..models import LIVE_STATUSES, InstanceStatus, ProcessInstance, Task, User
from ..text import msg
from . import events
from .agencies import lane_agencies
from .authz import is_admin
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .forms import require_data_size
from .instance_change import changing_instance
from .projects import get_project


def deliver(
    session: Session,
    actor: User,
    *,
    name: str,
    project_code: str | None = None,
    instance_id: int | None = None,
    correlation: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[ProcessInstance, list[Task]]:
    """Deliver message ``name`` to the instance given, or to the live instance of the project that
    waits for it; returns the instance and its open steps afterwards."""
    if (project_code is None) == (instance_id is None):
        raise InvalidInput(
            msg("name the project or the instance"), {"project_code": [msg("project_code or instance_id")]}
        )
    data, correlation = data or {}, correlation or {}
    require_data_size(session, data)
    if instance_id is not None:
        candidates = [instance_id]
    else:
        project = get_project(session, project_code or "")
        candidates = list(
            session.scalars(
                select(ProcessInstance.id)
                .where(ProcessInstance.project_id == project.id, ProcessInstance.status.in_(LIVE_STATUSES))
                .order_by(ProcessInstance.id)
            )
        )
    for candidate in candidates:
        with changing_instance(session, candidate, actor) as change:
            waiting = [w for w in change.runtime.waiting_messages(change.workflow) if w.name == name]
            if not waiting:
                change.leave_unchanged()
                continue
            if change.instance.status != InstanceStatus.RUNNING:
                raise Conflict(msg("the process instance is {status}", status=change.instance.status))
            if not is_admin(actor) and not any(_lane_agency(change, w.lane) == actor.agency_code for w in waiting):
                raise Forbidden(
                    msg(
                        "message {name!r} is for another agency's system, not {agency}'s",
                        name=name,
                        agency=actor.agency_code,
                    )
                )
            try:
                change.advance(lambda workflow: change.runtime.deliver_message(workflow, name, data, correlation))
            except UnsafeData as exc:
                raise InvalidInput(msg("the data cannot be kept"), {"data": [str(exc)]}) from None
            events.record(
                session,
                "message.received",
                actor,
                instance=change.instance,
                payload={"name": name, "elements": [w.element for w in waiting], "correlation": correlation},
            )
        return change.instance, change.open_after
    raise NotFound(msg("nothing waits for message {name!r}", name=name))


def _lane_agency(change: Any, lane: str | None) -> str | None:
    """The agency a lane names (its routing expression evaluated on the instance's data)."""
    routed = change.runtime.route(lane, change.workflow.data)
    return lane_agencies(change.session).get(routed or "")
