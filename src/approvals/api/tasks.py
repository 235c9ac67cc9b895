from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from ..db import get_session
from ..services import materials, send_back, tasks
from ..services.authz import can_work_on
from ..services.errors import InvalidInput
from ..services.limits import limits_of
from .auth import SECURITY, authenticated, current_user
from .idempotency import DOC, idempotent
from .schemas import (
    Along,
    AssignRequest,
    CompleteRequest,
    CompleteResponse,
    InboxArgs,
    MaterialSchema,
    SendBackRequest,
    SendBackTarget,
    TaskDetailSchema,
    TaskPage,
    TaskSchema,
)

# Room for the multipart envelope and the small text fields around one file.
MULTIPART_OVERHEAD = 64 * 1024

blp = Blueprint("tasks", __name__, url_prefix="/api/tasks", description="Work items: the inbox and its steps")


@blp.get("")
@blp.doc(security=SECURITY)
@blp.arguments(InboxArgs(), location="query")
@blp.response(200, TaskPage)
@authenticated
def inbox(query):
    """The inbox: your agency's steps by default, soonest due first."""
    rows, total = tasks.inbox(
        get_session(),
        current_user(),
        tasks.InboxFilter(
            agency=query.get("agency"),
            assignee_me=query.get("assignee") == "me",
            state=query["state"],
            project=query.get("project"),
            process=query.get("process"),
            overdue=query.get("overdue"),
            search=query.get("q"),
            sort=query["sort"],
            page=query["page"],
            page_size=query["page_size"],
        ),
    )
    return {"items": rows, "total": total, "page": query["page"], "page_size": query["page_size"]}


@blp.get("/<int:task_id>")
@blp.doc(security=SECURITY)
@blp.response(200, TaskDetailSchema)
@authenticated
def get_task(task_id: int):
    """A step with its form (JSON Schema) and the data it was given."""
    session, user = get_session(), current_user()
    task = tasks.get_task(session, task_id, user)
    return Along(task, form_schema=tasks.form_of(task), materials=materials.shown_with_task(session, task, user))


@blp.post("/<int:task_id>/claim")
@blp.doc(security=SECURITY, **DOC)
@idempotent
@blp.response(200, TaskSchema)
@blp.alt_response(409, description="claimed by someone else, or no longer open")
@authenticated
def claim(task_id: int):
    """Claim a step of your agency."""
    return tasks.claim_task(get_session(), task_id, current_user())


@blp.post("/<int:task_id>/unclaim")
@blp.doc(security=SECURITY)
@blp.response(200, TaskSchema)
@authenticated
def unclaim(task_id: int):
    """Release a claimed step back to the agency (assignee or lead)."""
    return tasks.unclaim_task(get_session(), task_id, current_user())


@blp.post("/<int:task_id>/assign")
@blp.doc(security=SECURITY)
@blp.arguments(AssignRequest())
@blp.response(200, TaskSchema)
@authenticated
def assign(body, task_id: int):
    """Assign a step to a member of its agency (leads)."""
    return tasks.assign_task(get_session(), task_id, body["username"], current_user())


@blp.post("/<int:task_id>/complete")
@blp.doc(security=SECURITY, **DOC)
@idempotent
@blp.arguments(CompleteRequest())
@blp.response(200, CompleteResponse)
@blp.alt_response(409, description="no longer open, claimed by someone else, or the instance is not running")
@authenticated
def complete(body, task_id: int):
    """Complete a step with its form data; returns the instance's open steps afterwards."""
    instance, open_rows = tasks.complete_task(
        get_session(), task_id, body["data"], current_user(), opinion=body.get("opinion")
    )
    return Along(instance, open_tasks=open_rows)


@blp.post("/<int:task_id>/send-back")
@blp.doc(security=SECURITY)
@blp.arguments(SendBackRequest())
@blp.response(200, CompleteResponse)
@blp.alt_response(422, description="no reason, or the target is not an earlier step on the path taken")
@authenticated
def send_back_task(body, task_id: int):
    """Send the instance back (退回) to an earlier step on the path already taken, with a reason.

    The steps in between are cancelled (``GET …/send-back-targets`` lists the targets and what
    each would cancel); this step's agency clock stops until the file returns."""
    instance, open_rows = send_back.send_back(
        get_session(), task_id, body["to_bpmn_id"], body["reason"], current_user()
    )
    return Along(instance, open_tasks=open_rows)


@blp.get("/<int:task_id>/send-back-targets")
@blp.doc(security=SECURITY)
@blp.response(200, SendBackTarget(many=True))
@authenticated
def send_back_targets(task_id: int):
    """Where this open step may be sent back to, nearest first, each with the other open steps
    (parallel branches, at other agencies) that sending back there would cancel. Empty when the
    caller may not work on the step or it is not open."""
    session, user = get_session(), current_user()
    task = tasks.get_task(session, task_id, user)
    return send_back.targets(session, task) if can_work_on(user, task) else []


@blp.post("/<int:task_id>/delegate")
@blp.doc(security=SECURITY)
@blp.arguments(AssignRequest())
@blp.response(200, TaskSchema)
@authenticated
def delegate(body, task_id: int):
    """Hand a step you hold to a colleague of your agency; you can recall it."""
    return tasks.delegate_task(get_session(), task_id, body["username"], current_user())


@blp.post("/<int:task_id>/recall")
@blp.doc(security=SECURITY)
@blp.response(200, TaskSchema)
@authenticated
def recall(task_id: int):
    """End a delegation: the delegator takes the step back (or the delegate hands it back)."""
    return tasks.recall_task(get_session(), task_id, current_user())


@blp.post("/<int:task_id>/materials")
@blp.doc(
    security=SECURITY,
    requestBody={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, image, Office document, DWG/DXF drawing or ZIP; the type is read from "
                            "the content and must match the name",
                        },
                        "field": {
                            "type": "string",
                            "description": "the form field (marked x-material) it is attached for",
                        },
                        "document_number": {
                            "type": "string",
                            "description": "文号 when this is a document the step issues",
                        },
                    },
                }
            }
        },
    },
)
@blp.response(201, MaterialSchema)
@blp.alt_response(413, description="the file, or the step's materials together, exceed the limit")
@blp.alt_response(415, description="the content is not an allowed type, or does not match the name")
@blp.alt_response(422, description="no file, an empty file, or an unknown field")
@authenticated
def upload_material(task_id: int):
    """Attach a file to an open step you may work on; every later step sees it."""
    session = get_session()
    request.max_content_length = limits_of(session).max_material_bytes + MULTIPART_OVERHEAD
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("a file is required", {"file": ["send the file as multipart field 'file'"]}, "files")
    material = tasks.attach_material(
        session,
        task_id,
        current_user(),
        name=upload.filename or "",
        stream=upload.stream,
        field=request.form.get("field") or None,
        document_number=request.form.get("document_number"),
    )
    return material
