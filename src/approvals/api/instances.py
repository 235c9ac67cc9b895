from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from ..db import get_session
from ..models import ProcessInstance
from ..services import history, instances, repair
from .auth import SECURITY, authenticated, current_user
from .schemas import Along, CommentRequest, EventSchema, InstanceSchema, ModifyRequest, TerminateRequest

blp = Blueprint("instances", __name__, url_prefix="/api/instances", description="Process instances")


def _doc(session: Session, instance: ProcessInstance) -> Along:
    return Along(instance, open_tasks=instances.open_tasks(session, instance.id))


@blp.get("/<int:instance_id>")
@blp.doc(security=SECURITY)
@blp.response(200, InstanceSchema)
@authenticated
def get_instance(instance_id: int):
    """An instance with its status and open steps."""
    session = get_session()
    return _doc(session, instances.get_instance(session, instance_id))


@blp.get("/<int:instance_id>/events")
@blp.doc(security=SECURITY)
@blp.response(200, EventSchema(many=True))
@authenticated
def events(instance_id: int):
    """The instance's audit trail, oldest first."""
    return history.history(get_session(), instance_id, current_user())


@blp.post("/<int:instance_id>/comments")
@blp.doc(security=SECURITY)
@blp.arguments(CommentRequest())
@blp.response(201, EventSchema)
@authenticated
def comment(body, instance_id: int):
    """Add a free comment to an instance's history."""
    return instances.add_comment(get_session(), instance_id, body["text"], current_user())


@blp.post("/<int:instance_id>/suspend")
@blp.doc(security=SECURITY)
@blp.response(200, InstanceSchema)
@authenticated
def suspend(instance_id: int):
    """Suspend: no step can be claimed or completed until it is resumed."""
    session = get_session()
    return _doc(session, instances.suspend_instance(session, instance_id, current_user()))


@blp.post("/<int:instance_id>/resume")
@blp.doc(security=SECURITY)
@blp.response(200, InstanceSchema)
@authenticated
def resume(instance_id: int):
    """Resume a suspended instance."""
    session = get_session()
    return _doc(session, instances.resume_instance(session, instance_id, current_user()))


@blp.post("/<int:instance_id>/terminate")
@blp.doc(security=SECURITY)
@blp.arguments(TerminateRequest(), required=False)
@blp.response(200, InstanceSchema)
@authenticated
def terminate(body, instance_id: int):
    """Terminate: cancel every open step and end the instance."""
    session = get_session()
    reason = (body or {}).get("reason", "")
    return _doc(session, instances.terminate_instance(session, instance_id, current_user(), reason))


@blp.post("/<int:instance_id>/modify")
@blp.doc(security=SECURITY)
@blp.arguments(ModifyRequest())
@blp.response(200, InstanceSchema)
@blp.alt_response(409, description="the instance has ended")
@authenticated
def modify(body, instance_id: int):
    """Instance modification (owners and admins): cancel live steps, start before an element (back to
    one done earlier, or forward from a step cancelled in the same request) and/or merge data into the
    live steps (checked against the model's forms). Audited as `instance.modified` with the reason and
    the data before and after; an instance in error whose failed element is gone runs on."""
    session = get_session()
    instance = repair.modify_instance(
        session,
        instance_id,
        current_user(),
        reason=body["reason"],
        cancel=body["cancel"],
        start_before=body["start_before"],
        data=body["data"],
    )
    return _doc(session, instance)
