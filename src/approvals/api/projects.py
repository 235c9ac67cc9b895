from __future__ import annotations

from flask_smorest import Blueprint

from ..db import get_session
from ..services import projects, status
from ..services.instances import start_instance
from .auth import SECURITY, authenticated, current_user
from .idempotency import DOC, idempotent
from .schemas import (
    Along,
    InstanceSchema,
    PageQuery,
    ProjectPage,
    ProjectRequest,
    ProjectSchema,
    StartRequest,
    StatusSchema,
)

blp = Blueprint("projects", __name__, url_prefix="/api/projects", description="Projects and where they stand")


@blp.get("")
@blp.doc(security=SECURITY)
@blp.arguments(PageQuery(), location="query")
@blp.response(200, ProjectPage)
@authenticated
def list_projects(query):
    """Projects with their current stage, a page at a time."""
    session = get_session()
    rows, total = projects.list_projects(session, page=query["page"], page_size=query["page_size"])
    return {
        "items": status.project_summaries(session, rows),
        "total": total,
        "page": query["page"],
        "page_size": query["page_size"],
    }


@blp.post("")
@blp.doc(security=SECURITY)
@blp.arguments(ProjectRequest())
@blp.response(201, ProjectSchema)
@blp.alt_response(409, description="the code is taken")
@authenticated
def create_project(body):
    """Create a project (coordinating agency or admin)."""
    session = get_session()
    project = projects.create_project(session, projects.NewProject(**body), current_user())
    return status.project_summaries(session, [project])[0]


@blp.get("/<string:code>/status")
@blp.doc(security=SECURITY)
@blp.response(200, StatusSchema)
@authenticated
def project_status(code: str):
    """Where a project stands: each process instance with its open and completed steps."""
    return status.project_status(get_session(), code, current_user())


@blp.post("/<string:code>/instances")
@blp.doc(security=SECURITY, **DOC)
@idempotent
@blp.arguments(StartRequest())
@blp.response(201, InstanceSchema)
@authenticated
def start(body, code: str):
    """Start the latest version of a process for this project."""
    instance, open_rows = start_instance(get_session(), code, body["process_key"], body["data"], current_user())
    return Along(instance, open_tasks=open_rows)
