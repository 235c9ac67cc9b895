from __future__ import annotations

from flask_smorest import Blueprint

from ..db import get_session
from ..services import tasks
from .auth import SECURITY, authenticated, current_user
from .idempotency import DOC, idempotent
from .present import task_detail_doc, task_doc
from .schemas import (
    AssignRequest,
    CompleteRequest,
    CompleteResponse,
    InboxQuery,
    TaskDetailSchema,
    TaskPage,
    TaskSchema,
)

blp = Blueprint("tasks", __name__, url_prefix="/api/tasks", description="Work items: the inbox and its steps")


@blp.get("")
@blp.doc(security=SECURITY)
@blp.arguments(InboxQuery, location="query")
@blp.response(200, TaskPage)
@authenticated
def inbox(query):
    """The inbox: your agency's steps by default, soonest due first."""
    rows, total = tasks.inbox(get_session(), current_user(), tasks.InboxQuery(
        agency=query.get("agency"), assignee_me=query.get("assignee") == "me", state=query["state"],
        project=query.get("project"), overdue=query.get("overdue"), page=query["page"],
        page_size=query["page_size"]))
    return {"items": [task_doc(t) for t in rows], "total": total, "page": query["page"],
            "page_size": query["page_size"]}


@blp.get("/<int:task_id>")
@blp.doc(security=SECURITY)
@blp.response(200, TaskDetailSchema)
@authenticated
def get_task(task_id: int):
    """A step with its form (JSON Schema) and the data it was given."""
    task = tasks.get_task(get_session(), task_id, current_user())
    return task_detail_doc(task, tasks.form_of(task))


@blp.post("/<int:task_id>/claim")
@blp.doc(security=SECURITY, **DOC)
@idempotent
@blp.response(200, TaskSchema)
@blp.alt_response(409, description="claimed by someone else, or no longer open")
@authenticated
def claim(task_id: int):
    """Claim a step of your agency."""
    return task_doc(tasks.claim_task(get_session(), task_id, current_user()))


@blp.post("/<int:task_id>/unclaim")
@blp.doc(security=SECURITY)
@blp.response(200, TaskSchema)
@authenticated
def unclaim(task_id: int):
    """Release a claimed step back to the agency (assignee or lead)."""
    return task_doc(tasks.unclaim_task(get_session(), task_id, current_user()))


@blp.post("/<int:task_id>/assign")
@blp.doc(security=SECURITY)
@blp.arguments(AssignRequest)
@blp.response(200, TaskSchema)
@authenticated
def assign(body, task_id: int):
    """Assign a step to a member of its agency (leads)."""
    return task_doc(tasks.assign_task(get_session(), task_id, body["username"], current_user()))


@blp.post("/<int:task_id>/complete")
@blp.doc(security=SECURITY, **DOC)
@idempotent
@blp.arguments(CompleteRequest)
@blp.response(200, CompleteResponse)
@blp.alt_response(409, description="no longer open, claimed by someone else, or the instance is not running")
@authenticated
def complete(body, task_id: int):
    """Complete a step with its form data; returns the instance's open steps afterwards."""
    instance, open_rows = tasks.complete_task(get_session(), task_id, body["data"], current_user(),
                                              opinion=body.get("opinion"))
    return {"instance_id": instance.id, "status": instance.status, "open_tasks": [task_doc(t) for t in open_rows]}
