from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from ..db import get_session
from ..services import webhooks
from .auth import SECURITY, authenticated, current_user
from .schemas import CreatedWebhookSchema, DeliveryQuery, DeliverySchema, WebhookRequest, WebhookSchema

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/webhooks",
    description="Where events are sent (admins): each delivery a JSON POST signed with the webhook's secret",
)


@blp.post("")
@blp.doc(security=SECURITY)
@blp.arguments(WebhookRequest())
@blp.response(201, CreatedWebhookSchema)
@authenticated
def create(body: dict[str, Any]) -> Any:
    """Send events of the given types to `url` from now on. Each delivery is a POST of
    `{type, event_id, instance_id, project_code, task_id, actor, at, payload}` with the headers
    `X-Approvals-Event`, `X-Approvals-Delivery` (the same on every retry: receivers dedupe on it) and
    `X-Approvals-Signature: sha256=<HMAC-SHA256 of the body with the secret>`; at least once, in
    order per instance, retried with back-off, dead after the last attempt (see the deliveries)."""
    return webhooks.create_webhook(
        get_session(),
        current_user(),
        url=body["url"],
        event_types=body["events"],
        secret=body.get("secret"),
        agency_code=body.get("agency"),
        hosts=webhooks.allowed_hosts(current_app.config.get("WEBHOOK_HOSTS")),
    )


@blp.get("")
@blp.doc(security=SECURITY)
@blp.response(200, WebhookSchema(many=True))
@authenticated
def list_all() -> Any:
    """The webhooks events are sent to."""
    return webhooks.list_webhooks(get_session(), current_user())


@blp.delete("/<int:webhook_id>")
@blp.doc(security=SECURITY)
@blp.response(204)
@authenticated
def delete(webhook_id: int) -> None:
    """Stop sending to a webhook; its pending deliveries are given up, its log stays."""
    webhooks.delete_webhook(get_session(), current_user(), webhook_id)


@blp.get("/<int:webhook_id>/deliveries")
@blp.doc(security=SECURITY)
@blp.arguments(DeliveryQuery(), location="query")
@blp.response(200, DeliverySchema(many=True))
@authenticated
def list_deliveries(query: dict[str, Any], webhook_id: int) -> Any:
    """The webhook's latest deliveries, newest first: what was sent, how often, what came back."""
    return webhooks.deliveries(get_session(), current_user(), webhook_id, status=query.get("status"))


@blp.post("/deliveries/<delivery_id>/replay")
@blp.doc(security=SECURITY)
@blp.response(200, DeliverySchema)
@authenticated
def replay(delivery_id: str) -> Any:
    """Send a delivery again (a dead one, or one the receiver lost), with the same delivery id."""
    return webhooks.replay(get_session(), current_user(), delivery_id)
