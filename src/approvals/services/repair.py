"""Repairing instances (owners and admins): run a failed element again after a fix, or modify an
instance: cancel live steps, start before an element, patch its data. Each is audited with who and
why, and goes through the one unit of work for instance changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..engine.data import check_safe_data, plain_json
from ..engine.errors import UnsafeData
from ..engine.modification import ModificationRefused, modify
from ..engine.runtime import NothingToRetry
from ..models import ENDED_STATUSES, Incident, IncidentStatus, InstanceStatus, ProcessInstance, User, utcnow
from ..text import msg
from . import events
from .authz import can_publish, require
from .definitions import runtime_of
from .errors import Conflict, InvalidInput, NotFound
from .forms import require_data_size, validate_patch
from .instance_change import changing_instance


def retry(session: Session, incident_id: int, actor: User, data: dict[str, Any] | None = None) -> ProcessInstance:
    """Run the failed element again, after a fix, with ``data`` merged into its data if given (the
    event keeps the values before and after). The incident is resolved when the instance runs on;
    if it fails again the incident stays open with one more attempt."""
    require(can_publish(actor), msg("only process owners and admins retry incidents"))
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(msg("incident {incident_id} not found", incident_id=incident_id))
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(msg("incident {incident_id} is {status}", incident_id=incident_id, status=incident.status))
    if data is not None:
        require_data_size(session, data)
        try:
            check_safe_data(data)
        except UnsafeData as exc:
            raise InvalidInput(str(exc), {"data": [str(exc)]}) from None
    with changing_instance(session, incident.instance_id, actor) as change:
        instance = change.instance
        if instance.status != InstanceStatus.ERROR:
            raise Conflict(msg("the instance is {status}, not stopped in error", status=instance.status))
        instance.status, instance.error_message, instance.error_element = InstanceStatus.RUNNING, None, None
        try:
            retried = change.advance(lambda workflow: change.runtime.retry(workflow, data)) or {}
        except NothingToRetry:
            raise Conflict(
                msg(
                    "no step of the instance failed by itself (its timers or its saved state did): there is nothing "
                    "to run again"
                )
            ) from None
        events.record(
            session,
            "incident.retried",
            actor,
            instance=instance,
            payload={
                "incident": incident.id,
                "elements": retried.get("elements", []),
                "data_before": plain_json(retried.get("data_before", {})),
                "data_after": plain_json(data or {}),
            },
        )
    if instance.status != InstanceStatus.ERROR:
        incident.status, incident.resolved_at, incident.updated_at = IncidentStatus.RESOLVED, utcnow(), utcnow()
        events.record(session, "incident.resolved", actor, instance=instance, payload={"incident": incident.id})
    session.flush()
    return change.instance


def modify_instance(
    session: Session,
    instance_id: int,
    actor: User,
    *,
    reason: str,
    cancel: list[str] | None = None,
    start_before: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> ProcessInstance:
    """Cancel the live steps ``cancel`` (BPMN ids), start before the elements ``start_before``
    (back to one done earlier, or forward from a step cancelled here), and merge ``data`` into the
    live steps' data (checked against the model's forms). The event keeps the data before and after.
    An instance stopped in error runs on once nothing in it has failed any more; its incident is resolved."""
    require(can_publish(actor), msg("only process owners and admins modify instances"))
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(msg("say why the instance is modified"), {"reason": [msg("required")]})
    cancel, start_before, data = list(cancel or []), list(start_before or []), dict(data or {})
    if not (cancel or start_before or data):
        raise InvalidInput(msg("nothing to do: give cancel, start_before or data"), {"cancel": [msg("nothing to do")]})
    require_data_size(session, data)
    with changing_instance(session, instance_id, actor) as change:
        instance = change.instance
        if instance.status in ENDED_STATUSES:
            raise Conflict(msg("the instance has ended ({status})", status=instance.status))
        errors = validate_patch(instance.definition.forms, data)
        if errors:
            raise InvalidInput(
                msg("the data does not fit the model's forms"), {f"data.{k}": v for k, v in errors.items()}
            )
        change.cancel_reason = msg("modified: {reason}", reason=reason)
        workflow = change.workflow
        try:
            done = modify(workflow, cancel, start_before, data)
        except ModificationRefused as exc:
            raise InvalidInput(str(exc), {exc.field: [str(exc)]}) from None
        change.advance(change.runtime.advance)
        runtime = change.runtime
        if change.failure is None and not runtime.is_completed(workflow) and not _has_work(runtime, workflow):
            raise InvalidInput(
                msg(
                    "after this change the instance would wait on nothing (no open step, timer or failed element): "
                    "start before an element, or terminate the instance"
                ),
                {"cancel": [msg("leaves nothing to do")]},
            )
        if change.failure is None and runtime.is_completed(workflow) and runtime.reached_end(workflow) is None:
            raise InvalidInput(
                msg("after this change the instance would stop without reaching an end event: terminate it instead"),
                {"cancel": [msg("leaves nothing to do")]},
            )
        if instance.status == InstanceStatus.ERROR and not runtime.failed_elements(workflow):
            instance.status, instance.error_message, instance.error_element = InstanceStatus.RUNNING, None, None
        events.record(
            session,
            "instance.modified",
            actor,
            instance=instance,
            payload={
                "reason": reason,
                "cancelled": done.cancelled,
                "started_before": done.started,
                "data_before": plain_json(done.data_before),
                "data_after": plain_json(data),
            },
        )
    if instance.status != InstanceStatus.ERROR:
        _resolve_open_incidents(session, instance, actor)
    session.flush()
    return instance


def modification_options(session: Session, instance_id: int, actor: User) -> dict[str, Any]:
    """What a modification of the instance can name: its live elements (to cancel) and every
    element of its model (to start before), each as (BPMN id, name[, state])."""
    require(can_publish(actor), msg("only process owners and admins modify instances"))
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(msg("process instance {instance_id} not found", instance_id=instance_id))
    runtime = runtime_of(session, instance.definition)
    live: list[tuple[str, str, str]] = []
    if instance.status not in ENDED_STATUSES:
        try:
            live = runtime.live_elements(runtime.load(instance.state))
        except Exception:  # noqa: BLE001 - a saved state that cannot be read has nothing live to offer
            live = []
    return {"instance": instance, "live": live, "elements": runtime.elements()}


def _has_work(runtime: Any, workflow: Any) -> bool:
    return bool(runtime.ready_steps(workflow) or runtime.next_timer_due(workflow) or runtime.failed_elements(workflow))


def _resolve_open_incidents(session: Session, instance: ProcessInstance, actor: User) -> None:
    for incident in session.query(Incident).filter_by(instance_id=instance.id, status=IncidentStatus.OPEN):
        incident.status, incident.resolved_at, incident.updated_at = IncidentStatus.RESOLVED, utcnow(), utcnow()
        events.record(session, "incident.resolved", actor, instance=instance, payload={"incident": incident.id})
