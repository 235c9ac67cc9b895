from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from ..db import get_session
from ..services import messages
from .auth import SECURITY, authenticated, current_user
from .idempotency import DOC, idempotent
from .schemas import Along, CompleteResponse, MessageRequest

blp = Blueprint(
    "messages",
    __name__,
    url_prefix="/api/messages",
    description="Messages from outside systems (the applicant's, the trading centre's) to waiting instances",
)


@blp.post("")
@blp.doc(security=SECURITY, **DOC)
@idempotent
@blp.arguments(MessageRequest())
@blp.response(200, CompleteResponse)
@blp.alt_response(403, description="the catcher is in another agency's lane")
@blp.alt_response(404, description="nothing waits for this message there, and no process starts by it")
@blp.alt_response(409, description="the instance waiting for it is not running (suspended, in error)")
@authenticated
def deliver(body: dict[str, Any]) -> Any:
    """Deliver a BPMN message to what waits for it: a message catch event (also behind an
    event-based gateway), a boundary event, a receive task or an event subprocess's message start,
    found by project code (the live instance that waits) or instance id. With a project code and no
    live instance waiting, a process whose start event takes the message starts a new instance for
    the project (`instance.started`, then `message.received`). `data` becomes the catcher's message
    variable; a catcher that names a form checks `data` against it first (422, `errors.json.data`
    naming each field, nothing created or changed). The sender must belong to the agency of the
    catcher's lane (a service account's token of scope `messages` is enough, and good for nothing
    else). Send an `Idempotency-Key`: a repeat then changes nothing and answers the same."""
    instance, open_rows = messages.deliver(
        get_session(),
        current_user(),
        name=body["name"],
        project_code=body.get("project_code"),
        instance_id=body.get("instance_id"),
        correlation=body["correlation"],
        data=body["data"],
    )
    return Along(instance, open_tasks=open_rows)
