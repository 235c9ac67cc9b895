"""Webhooks (admins): where events are sent, which ones, signed with which secret, and what became
of each delivery. Only http(s) URLs on the hosts the settings allow (``APPROVALS_WEBHOOK_HOSTS``)
are accepted; nothing else is ever fetched."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Agency, DeliveryStatus, User, Webhook, WebhookDelivery, utcnow
from ..text import msg
from . import events
from .authz import can_manage_users, require
from .errors import InvalidInput, NotFound

MAX_EVENT_TYPES = 50
MIN_SECRET = 16
MAX_DELIVERIES_SHOWN = 200


def allowed_hosts(setting: object) -> frozenset[str]:
    """``host`` or ``host:port`` entries of the setting, lower-cased."""
    return frozenset(part.strip().lower() for part in str(setting or "").split(",") if part.strip())


def host_allowed(url: str, hosts: Iterable[str]) -> bool:
    """Whether ``url`` is http(s) without credentials, on an allowed host (a bare host allows
    any port; ``host:port`` only that port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    host = parts.hostname.lower()
    allowed = set(hosts)
    return host in allowed or (port is not None and f"{host}:{port}" in allowed)


def create_webhook(
    session: Session,
    actor: User,
    *,
    url: str,
    event_types: list[str],
    secret: str | None,
    agency_code: str | None,
    hosts: Iterable[str],
) -> Webhook:
    require(can_manage_users(actor), msg("only admins manage webhooks"))
    errors: dict[str, list[str]] = {}
    if not isinstance(url, str) or len(url) > 2000 or not host_allowed(url, hosts):
        errors["url"] = [msg("an http(s) URL on a host the settings allow (APPROVALS_WEBHOOK_HOSTS)")]
    types = [t for t in event_types if isinstance(t, str)] if isinstance(event_types, list) else []
    if not types or len(types) > MAX_EVENT_TYPES or any(not 1 <= len(t) <= 64 for t in types):
        errors["events"] = [msg("a list of event types such as task.completed, or * for all")]
    if secret is not None and not MIN_SECRET <= len(secret) <= 200:
        errors["secret"] = [msg("{n} to 200 characters", n=MIN_SECRET)]
    if agency_code is not None and session.get(Agency, agency_code) is None:
        errors["agency"] = [msg("unknown agency {agency!r}", agency=agency_code)]
    if errors:
        raise InvalidInput(msg("invalid webhook"), errors)
    webhook = Webhook(
        url=url,
        events=sorted(set(types)),
        secret=secret or secrets.token_urlsafe(32),
        agency_code=agency_code,
        created_by_id=actor.id,
    )
    session.add(webhook)
    session.flush()
    events.record(session, "webhook.created", actor, payload={"webhook_id": webhook.id, "url": url})
    return webhook


def list_webhooks(session: Session, actor: User) -> list[Webhook]:
    require(can_manage_users(actor), msg("only admins manage webhooks"))
    return list(session.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)))


def get_webhook(session: Session, actor: User, webhook_id: int) -> Webhook:
    require(can_manage_users(actor), msg("only admins manage webhooks"))
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or not webhook.active:
        raise NotFound(msg("no webhook {webhook_id}", webhook_id=webhook_id))
    return webhook


def delete_webhook(session: Session, actor: User, webhook_id: int) -> None:
    """Stop sending to it; its delivery log stays, and what was still pending is given up."""
    webhook = get_webhook(session, actor, webhook_id)
    webhook.active = False
    for delivery in session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == DeliveryStatus.PENDING
        )
    ):
        delivery.status = DeliveryStatus.DEAD
        delivery.last_error = "the webhook was deleted"
    events.record(session, "webhook.deleted", actor, payload={"webhook_id": webhook.id, "url": webhook.url})


def deliveries(session: Session, actor: User, webhook_id: int, status: str | None = None) -> list[WebhookDelivery]:
    """The webhook's latest deliveries, newest first."""
    webhook = get_webhook(session, actor, webhook_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return list(session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(MAX_DELIVERIES_SHOWN)))


def replay(session: Session, actor: User, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again from the next dispatch on (with the same delivery id, so a receiver
    that already has it can tell)."""
    require(can_manage_users(actor), msg("only admins manage webhooks"))
    delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id))
    if delivery is None or not delivery.webhook.active:
        raise NotFound(msg("no delivery {delivery_id}", delivery_id=delivery_id))
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.last_error = None
    events.record(session, "webhook.replayed", actor, payload={"delivery_id": delivery_id})
    return delivery
