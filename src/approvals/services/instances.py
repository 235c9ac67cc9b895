"""Process instances: start, lifecycle (suspend, resume, terminate), history and comments.

Every change to an existing instance goes through ``instance_change`` (lock, run, sync, save).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..engine.data import check_safe_data, plain_json
from ..engine.errors import EngineFailure, UnsafeData
from ..engine.serializer import STATE_FORMAT
from ..models import (
    ENDED_STATUSES,
    Event,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    Project,
    Task,
    User,
    utcnow,
)
from ..text import msg
from . import events, materials, reference
from .authz import can_comment, can_manage_instances, can_manage_projects, require
from .definitions import latest_id, runtime_of
from .errors import Conflict, InvalidInput, NotFound
from .forms import require_data_size
from .instance_change import cancel, changing_instance, new_instance_change
from .instance_change import open_tasks as open_tasks  # an instance's open work items, read here too
from .projects import get_project, project_facts

RESERVED_START_KEYS = ("project",)


_WITH_PROJECT_AND_DEFINITION = (joinedload(ProcessInstance.project), joinedload(ProcessInstance.definition))


def get_instance(session: Session, instance_id: int) -> ProcessInstance:
    """The instance with its project and definition, which every answer about it names (404 when unknown)."""
    instance = session.get(ProcessInstance, instance_id, options=_WITH_PROJECT_AND_DEFINITION)
    if instance is None:
        raise NotFound(msg("process instance {instance_id} not found", instance_id=instance_id))
    return instance


def start_instance(
    session: Session, project_code: str, process_key: str, data: Any, actor: User
) -> tuple[ProcessInstance, list[Task]]:
    """Start the latest version of a process for a project; returns the instance and its open items."""
    require(can_manage_projects(actor), msg("only the coordinating agency or an admin starts processes"))
    row = session.execute(_PROJECT_AND_LATEST, {"code": project_code, "key": process_key}).one_or_none()
    if row is None:  # say which is missing
        get_project(session, project_code)
        raise InvalidInput(
            msg("no process definition {process_key!r}", process_key=process_key),
            {"process_key": [msg("unknown process")]},
        )
    project, definition, revision = row
    reference.note_revision(session, revision)
    return start_definition(session, project, definition, data, actor)


# A start's reads in one statement: the project, the process's latest version and the reference
# revision (so the calendar's cache needs no statement of its own).
_PROJECT_AND_LATEST = (
    select(Project, ProcessDefinition, reference.REVISION)
    .join_from(Project, ProcessDefinition, ProcessDefinition.id == latest_id(bindparam("key"), "bpmn"))
    .where(Project.code == bindparam("code"))
)


def start_definition(
    session: Session, project: Project, definition: ProcessDefinition, data: Any, actor: User
) -> tuple[ProcessInstance, list[Task]]:
    """Start ``definition`` for ``project`` (whoever may: the caller checked)."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InvalidInput(msg("data must be a JSON object"), {"data": [msg("must be a JSON object")]})
    try:
        check_safe_data(data)
    except UnsafeData as exc:
        raise InvalidInput(str(exc), {"data": {exc.path.removeprefix("data."): [str(exc).split(": ", 1)[1]]}}) from None
    require_data_size(session, data)
    for key in RESERVED_START_KEYS:
        if key in data:
            raise InvalidInput(msg("data.{key} is set by the service", key=key), {"data": {key: ["reserved"]}})

    runtime = runtime_of(session, definition)
    # By ids, not objects: setting the relationship would add the instance to the project's
    # collection of instances and leave the project for the ORM to flush. Written once, with its
    # first state, when the change is saved.
    instance = ProcessInstance(
        project_id=project.id,
        definition_id=definition.id,
        status=InstanceStatus.RUNNING,
        state="",
        state_format=STATE_FORMAT,
        started_by_id=actor.id,
    )
    # Its project and definition, as loaded (no history, so nothing for the ORM to flush): the
    # session holds unchanged rows weakly, and the answer naming them must not read them again.
    set_committed_value(instance, "project", project)
    set_committed_value(instance, "definition", definition)
    failure = None
    # The workflow exists before its first steps run, so a failure in them is saved with it (and
    # its failed step can be retried from the incident).
    workflow = runtime.new_workflow({**data, "project": project_facts(project)})
    try:
        runtime.advance(workflow)
    except EngineFailure as exc:
        failure = exc
    # The instance is written once, with its first state, when the change is saved; its start
    # event then comes first.
    change = new_instance_change(
        session,
        instance,
        runtime,
        workflow,
        actor,
        failure,
        started={"process_key": definition.key, "version": definition.version, "data": plain_json(data)},
    )
    change.save()
    return instance, change.open_after


# -- lifecycle -----------------------------------------------------------------------------------


def _change_status(
    session: Session,
    instance_id: int,
    actor: User,
    *,
    action: str,
    from_status: InstanceStatus,
    to_status: InstanceStatus,
    event: str,
) -> ProcessInstance:
    require(
        can_manage_instances(actor),
        msg("only a lead of the coordinating agency or an admin may {action}", action=action),
    )
    with changing_instance(session, instance_id, actor) as change:
        instance = change.instance
        if instance.status != from_status:
            raise Conflict(
                msg(
                    "the instance is {status}; only a {from_status} instance can be {to_status}",
                    status=instance.status,
                    from_status=from_status,
                    to_status=to_status,
                )
            )
        instance.status = to_status
        change.record(event)
    return instance


def suspend_instance(session: Session, instance_id: int, actor: User) -> ProcessInstance:
    """No step can be claimed or completed, and no timer fires, until it is resumed."""
    return _change_status(
        session,
        instance_id,
        actor,
        action="suspend",
        from_status=InstanceStatus.RUNNING,
        to_status=InstanceStatus.SUSPENDED,
        event="instance.suspended",
    )


def resume_instance(session: Session, instance_id: int, actor: User) -> ProcessInstance:
    return _change_status(
        session,
        instance_id,
        actor,
        action="resume",
        from_status=InstanceStatus.SUSPENDED,
        to_status=InstanceStatus.RUNNING,
        event="instance.resumed",
    )


def terminate_instance(session: Session, instance_id: int, actor: User, reason: str = "") -> ProcessInstance:
    require(can_manage_instances(actor), msg("only a lead of the coordinating agency or an admin may terminate"))
    with changing_instance(session, instance_id, actor) as change:
        instance = change.instance
        if instance.status in ENDED_STATUSES:
            raise Conflict(msg("the instance is already {status}", status=instance.status))
        for row in change.open_items:
            cancel(session, instance, row, actor, msg("the instance was terminated"))
        instance.status = InstanceStatus.TERMINATED
        instance.next_timer_at = None
        instance.ended_at = utcnow()
        change.record("instance.terminated", payload={"reason": reason})
    return instance


def instance_events(session: Session, instance_id: int) -> list[Event]:
    get_instance(session, instance_id)
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)))


MAX_COMMENT = 4000


def add_comment(session: Session, instance_id: int, text: str, actor: User) -> Event:
    """A free comment on an instance, kept in its history: for those who take part in it (an agency
    that holds or held a step, the coordinator, admins and owners), while it has not ended."""
    require(can_comment(actor), msg("observers read; they do not comment"))
    instance = get_instance(session, instance_id)
    require(
        materials.can_read_materials(session, actor, instance.id),
        msg("your agency takes no part in process instance {instance_id}", instance_id=instance.id),
    )
    if instance.status in ENDED_STATUSES:
        raise Conflict(msg("the instance is {status}; it takes no more comments", status=instance.status))
    text = (text or "").strip()
    if not text or len(text) > MAX_COMMENT:
        raise InvalidInput(
            msg("invalid comment"), {"text": [msg("1-{MAX_COMMENT} characters", MAX_COMMENT=MAX_COMMENT)]}
        )
    event_id = events.record(session, "comment.added", actor, instance=instance, payload={"text": text})
    return session.get_one(Event, event_id)
