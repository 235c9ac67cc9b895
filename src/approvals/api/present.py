"""ORM rows to the plain documents the API schemas describe (shared with the web pages)."""

from __future__ import annotations

from typing import Any

from ..calendar import local_date
from ..db import get_session
from ..models import Event, Material, ProcessInstance, Substitution, Task, utcnow
from ..services.calendar import calendar_of, counted_workdays


def _live_count(task: Task) -> int | None:
    """Counted working days: stored when a step finishes, computed now while it is open."""
    if task.state not in ("open", "claimed"):
        return task.counted_workdays
    return counted_workdays(calendar_of(get_session()), task, utcnow())  # read once per transaction


def task_doc(task: Task) -> dict[str, Any]:
    instance = task.instance
    active = task.state in ("open", "claimed")
    return {
        "id": task.id,
        "kind": task.kind,
        "reminder_for": task.reminder_for_id,
        "bpmn_id": task.bpmn_id,
        "name": task.name,
        "stage": task.stage,
        "agency": task.agency_code,
        "assignee": task.assignee.username if task.assignee else None,
        "state": task.state,
        "created_at": task.created_at,
        "claimed_at": task.claimed_at,
        "due_at": task.due_at,
        "overdue": bool(active and task.due_at is not None and task.due_at < utcnow()),
        "counted_workdays": _live_count(task),
        "limit_workdays": task.limit_workdays,
        "time_limit": task.time_limit,
        "escalated_at": task.escalated_at,
        "statutory": task.statutory,
        "elapsed_days": (local_date(task.completed_at or utcnow()) - local_date(task.created_at)).days,
        "due_provisional": task.due_provisional,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by.username if task.completed_by else None,
        "on_behalf_of": task.on_behalf_of.username if task.on_behalf_of else None,
        "delegated_by": task.delegated_by.username if task.delegated_by else None,
        "outcome": task.outcome,
        "opinion": task.opinion,
        "form": task.form,
        "instance_id": task.instance_id,
        "project": instance.project.code,
        "process_key": instance.definition.key,
        "process_version": instance.definition.version,
    }


def task_detail_doc(task: Task, form_schema: dict | None, materials: list[Material]) -> dict[str, Any]:
    return {
        **task_doc(task),
        "documentation": task.documentation,
        "materials": [material_doc(m) for m in materials],
        "form_schema": form_schema,
        "data": task.input_data,
        "submitted_data": task.submitted_data,
    }


def instance_doc(instance: ProcessInstance, open_tasks: list[Task]) -> dict[str, Any]:
    error = None
    if instance.status == "error":
        error = {"message": instance.error_message, "element": instance.error_element}
    return {
        "id": instance.id,
        "project": instance.project.code,
        "process_key": instance.definition.key,
        "version": instance.definition.version,
        "status": instance.status,
        "result": instance.result,
        "started_at": instance.started_at,
        "updated_at": instance.updated_at,
        "ended_at": instance.ended_at,
        "error": error,
        "open_tasks": [task_doc(t) for t in open_tasks],
    }


def event_doc(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at,
        "actor": event.actor_name,
        "task_id": event.task_id,
        "payload": event.payload,
    }


def material_doc(material: Material) -> dict[str, Any]:
    return {
        "id": material.id,
        "name": material.name,
        "size": material.size,
        "sha256": material.sha256,
        "content_type": material.content_type,
        "kind": material.kind,
        "field": material.field,
        "document_number": material.document_number,
        "instance_id": material.instance_id,
        "task_id": material.task_id,
        "step": material.task.name,
        "uploaded_by": material.uploaded_by.username,
        "uploaded_at": material.uploaded_at,
        "withdrawn_at": material.withdrawn_at,
        "url": f"/api/materials/{material.id}",
    }


def substitution_doc(row: Substitution, today) -> dict[str, Any]:
    return {
        "id": row.id,
        "user": row.user.username,
        "substitute": row.substitute.username,
        "starts_on": row.starts_on,
        "ends_on": row.ends_on,
        "active": row.revoked_at is None and row.starts_on <= today <= row.ends_on,
        "revoked_at": row.revoked_at,
    }
