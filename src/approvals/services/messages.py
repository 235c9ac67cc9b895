"""Messages from outside: the applicant's or another agency's system delivers a BPMN message (a
correction resubmitted, a bid opening's result, an objection) to the instance that waits for it at
a message catch event, a receive task or an event subprocess's message start, or, when no live
instance of the project waits for it, starts a new instance of the process whose start event takes
it. The sender is a user of an agency (in practice a service account with a token of scope
``messages``): it may deliver only to an element in its own agency's lane (admins to any). A
catcher that names a form checks the message's data against it, as a step's form is checked.
Nothing waiting: 404; the instance not running: 409."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine.errors import UnsafeData
from ..engine.runtime import ModelRuntime, WaitingMessage
from ..models import LIVE_STATUSES, InstanceStatus, ProcessDefinition, ProcessInstance, Project, Task, User
from ..text import msg
from . import events
from .agencies import lane_agencies
from .authz import is_admin
from .catchers import catcher_agencies, unfilled_form
from .definitions import form_schema, list_latest, runtime_of
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .forms import require_data_size
from .instance_change import changing_instance
from .instances import start_definition
from .projects import get_project, project_facts


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
    waits for it, or to a new instance it starts; returns the instance and its open steps afterwards."""
    if (project_code is None) == (instance_id is None):
        raise InvalidInput(
            msg("name the project or the instance"), {"project_code": [msg("project_code or instance_id")]}
        )
    data, correlation = data or {}, correlation or {}
    require_data_size(session, data)
    project = None
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
        delivered = _deliver_to(session, candidate, actor, name, data, correlation)
        if delivered is not None:
            return delivered
    started = _start_by_message(session, project, actor, name, data) if project is not None else None
    if started is not None:
        delivered = _deliver_to(session, started.id, actor, name, data, correlation)
        if delivered is not None:
            return delivered
    raise NotFound(msg("nothing waits for message {name!r}", name=name))


def _deliver_to(
    session: Session, instance_id: int, actor: User, name: str, data: dict[str, Any], correlation: dict[str, Any]
) -> tuple[ProcessInstance, list[Task]] | None:
    """The message delivered to one instance, or None (unchanged) if nothing there waits for it."""
    with changing_instance(session, instance_id, actor) as change:
        waiting = [w for w in change.runtime.waiting_messages(change.workflow) if w.name == name]
        if not waiting:
            change.leave_unchanged()
            return None
        if change.instance.status != InstanceStatus.RUNNING:
            raise Conflict(msg("the process instance is {status}", status=change.instance.status))
        _require_sender(session, actor, name, change.runtime, waiting, change.workflow.data)
        _require_form(change.instance.definition, waiting, data)
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


def _start_by_message(
    session: Session, project: Project, actor: User, name: str, data: dict[str, Any]
) -> ProcessInstance | None:
    """A new instance of the (latest) process whose start event takes message ``name``, if any,
    waiting at that start for the message to be delivered; checked before anything is written."""
    for definition, _ in list_latest(session):
        if definition.kind != "bpmn":
            continue
        runtime = runtime_of(session, definition)
        starts = [w for w in runtime.starting_messages() if w.name == name]
        if starts:
            _require_sender(session, actor, name, runtime, starts, {"project": project_facts(project)})
            _require_form(definition, starts, data)
            return start_definition(session, project, definition, {}, actor)[0]
    return None


def _require_sender(
    session: Session,
    actor: User,
    name: str,
    runtime: ModelRuntime,
    waiting: list[WaitingMessage],
    data: dict[str, Any],
) -> None:
    """Only the system of the agency whose lane holds a catcher may send to it (admins: any)."""
    if not is_admin(actor) and actor.agency_code not in catcher_agencies(
        runtime, waiting, data, lane_agencies(session)
    ):
        raise Forbidden(
            msg("message {name!r} is for another agency's system, not {agency}'s", name=name, agency=actor.agency_code)
        )


def _require_form(definition: ProcessDefinition, waiting: list[WaitingMessage], data: dict[str, Any]) -> None:
    """The data fills the form each catcher names, as a step's form would be filled."""
    unfilled = unfilled_form(waiting, data, lambda form: form_schema(definition, form))
    if unfilled is not None:
        form, errors = unfilled
        raise InvalidInput(msg("the message's data does not fill form {form}", form=form), {"data": errors})
