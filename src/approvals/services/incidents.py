"""Incidents: each engine failure that stopped an instance, kept for owners and admins.

An instance in ``error`` has one open incident naming the element, the kind of work that failed,
the message and how often it failed; a failure of the same element again counts as another
attempt. Owners and admins retry it or modify the instance (services/repair.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..engine.errors import EngineFailure
from ..models import Incident, IncidentStatus, ProcessDefinition, ProcessInstance, Project, User, utcnow
from ..text import msg
from .authz import reads_all, require
from .errors import NotFound


def record(
    session: Session, instance: ProcessInstance, failure: EngineFailure, kind: str, attempts: int = 1
) -> Incident:
    """Open an incident for this failure (after ``attempts`` tries), or count another attempt at
    the one already open."""
    session.flush()  # the instance has its id
    incident = session.scalar(
        select(Incident).where(
            Incident.instance_id == instance.id,
            Incident.status == IncidentStatus.OPEN,
            Incident.element.is_not_distinct_from(failure.element),
        )
    )
    if incident is None:
        incident = Incident(
            instance_id=instance.id, element=failure.element, kind=kind, message=str(failure), attempts=attempts
        )
        session.add(incident)
    else:
        incident.attempts += 1
        incident.message = str(failure)
        incident.updated_at = utcnow()
    session.flush()
    return incident


def list_incidents(
    session: Session,
    actor: User,
    *,
    status: str | None = None,
    process: str | None = None,
    project: str | None = None,
) -> list[Incident]:
    require(reads_all(actor), msg("only owners, admins and observers read incidents"))
    stmt = (
        select(Incident)
        .join(ProcessInstance, Incident.instance_id == ProcessInstance.id)
        .options(joinedload(Incident.instance).joinedload(ProcessInstance.definition))
        .options(joinedload(Incident.instance).joinedload(ProcessInstance.project))
    )
    if status:
        stmt = stmt.where(Incident.status == status)
    if process:
        stmt = stmt.join(ProcessDefinition, ProcessInstance.definition_id == ProcessDefinition.id).where(
            ProcessDefinition.key == process
        )
    if project:
        stmt = stmt.join(Project, ProcessInstance.project_id == Project.id).where(Project.code == project)
    return list(session.scalars(stmt.order_by(Incident.id.desc()).limit(500)).unique())


def get_incident(session: Session, incident_id: int, actor: User) -> Incident:
    require(reads_all(actor), msg("only owners, admins and observers read incidents"))
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(msg("incident {incident_id} not found", incident_id=incident_id))
    return incident
