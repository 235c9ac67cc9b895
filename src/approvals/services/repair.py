"""Repairing a stopped instance: run its failed element again, after a fix."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..engine.data import check_safe_data, plain_json
from ..engine.errors import UnsafeData
from ..engine.runtime import NothingToRetry
from ..models import Incident, IncidentStatus, InstanceStatus, ProcessInstance, User, utcnow
from . import events
from .authz import can_publish, require
from .errors import Conflict, InvalidInput, NotFound
from .forms import require_data_size
from .instance_change import changing_instance


def retry(session: Session, incident_id: int, actor: User, data: dict[str, Any] | None = None) -> ProcessInstance:
    """Run the failed element again, after a fix, with ``data`` merged into its data if given (the
    event keeps the values before and after). The incident is resolved when the instance runs on;
    if it fails again the incident stays open with one more attempt."""
    require(can_publish(actor), "only process owners and admins retry incidents")
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(f"incident {incident_id} is {incident.status}")
    if data is not None:
        require_data_size(session, data)
        try:
            check_safe_data(data)
        except UnsafeData as exc:
            raise InvalidInput(str(exc), {"data": [str(exc)]}) from None
    with changing_instance(session, incident.instance_id, actor) as change:
        instance = change.instance
        if instance.status != InstanceStatus.ERROR:
            raise Conflict(f"the instance is {instance.status}, not stopped in error")
        instance.status, instance.error_message, instance.error_element = InstanceStatus.RUNNING, None, None
        try:
            retried = change.advance(lambda workflow: change.runtime.retry(workflow, data)) or {}
        except NothingToRetry:
            raise Conflict(
                "no step of the instance failed by itself (its timers or its saved state did): there is nothing "
                "to run again"
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
