from __future__ import annotations

from flask_smorest import Blueprint

from ..db import get_session
from ..models import utcnow
from ..services import projects, status
from ..services.calendar import calendar_of
from ..services.instances import start_instance
from .auth import SECURITY, authenticated, current_user
from .idempotency import DOC, idempotent
from .present import instance_doc, task_doc
from .schemas import InstanceSchema, PageQuery, ProjectPage, ProjectRequest, ProjectSchema, StartRequest, StatusSchema

blp = Blueprint("projects", __name__, url_prefix="/api/projects", description="Projects and where they stand")


@blp.get("")
@blp.doc(security=SECURITY)
@blp.arguments(PageQuery, location="query")
@blp.response(200, ProjectPage)
@authenticated
def list_projects(query):
    """Projects with their current stage, a page at a time."""
    session = get_session()
    rows, total = projects.list_projects(session, page=query["page"], page_size=query["page_size"])
    return {"items": status.project_summaries(session, rows), "total": total,
            "page": query["page"], "page_size": query["page_size"]}


@blp.post("")
@blp.doc(security=SECURITY)
@blp.arguments(ProjectRequest)
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
    session = get_session()
    project, instances = status.project_status(session, code)
    counted = status.project_counted_workdays(calendar_of(session), instances, utcnow())
    return {
        "project": {
            **status.project_summaries(session, [project])[0],
            "counted_workdays": counted,
            "commitment_workdays": status.COMMITMENT_WORKDAYS,
            "within_commitment": counted <= status.COMMITMENT_WORKDAYS,
        },
        "instances": [
            {
                "id": s.instance.id, "process_key": s.instance.definition.key,
                "process_name": s.instance.definition.name, "version": s.instance.definition.version,
                "status": s.instance.status, "result": s.instance.result,
                "started_at": s.instance.started_at, "ended_at": s.instance.ended_at,
                "stages": sorted({t.stage for t in s.open_tasks if t.stage}),
                "open_tasks": [task_doc(t) for t in s.open_tasks],
                "completed_tasks": [task_doc(t) for t in s.completed_tasks],
                "agencies": [vars(clock) for clock in s.agencies],
            }
            for s in instances
        ],
    }


@blp.post("/<string:code>/instances")
@blp.doc(security=SECURITY, **DOC)
@idempotent
@blp.arguments(StartRequest)
@blp.response(201, InstanceSchema)
@authenticated
def start(body, code: str):
    """Start the latest version of a process for this project."""
    return instance_doc(*start_instance(get_session(), code, body["process_key"], body["data"], current_user()))
