from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from ..db import get_session
from ..services import incidents, instances, repair
from .auth import SECURITY, authenticated, current_user
from .schemas import Along, IncidentQuery, IncidentSchema, InstanceSchema, RetryRequest

blp = Blueprint(
    "incidents", __name__, url_prefix="/api/incidents", description="Engine failures that stopped instances"
)


@blp.get("")
@blp.doc(security=SECURITY)
@blp.arguments(IncidentQuery(), location="query")
@blp.response(200, IncidentSchema(many=True))
@authenticated
def list_incidents(query: dict[str, Any]) -> Any:
    """Incidents, newest first (owners, admins and observers); filter by status, process or project."""
    return incidents.list_incidents(
        get_session(),
        current_user(),
        status=query.get("status"),
        process=query.get("process"),
        project=query.get("project"),
    )


@blp.get("/<int:incident_id>")
@blp.doc(security=SECURITY)
@blp.response(200, IncidentSchema)
@authenticated
def get_incident(incident_id: int) -> Any:
    """One incident: the instance, the element that failed, the message, attempts and times."""
    return incidents.get_incident(get_session(), incident_id, current_user())


@blp.post("/<int:incident_id>/retry")
@blp.doc(security=SECURITY)
@blp.arguments(RetryRequest())
@blp.response(200, InstanceSchema)
@blp.alt_response(409, description="the incident is resolved, or nothing failed that can run again")
@authenticated
def retry(body: dict[str, Any], incident_id: int) -> Any:
    """Run the failed element again (owners and admins), with `data` merged into its data first if
    given; the incident is resolved when the instance runs on, or counts another attempt."""
    session = get_session()
    instance = repair.retry(session, incident_id, current_user(), body.get("data"))
    return Along(instance, open_tasks=instances.open_tasks(session, instance.id))
