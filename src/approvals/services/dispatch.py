"""The dispatcher (part of ``approvals worker``; several may run at once): it turns outbox rows
into one delivery per webhook that wants the event, then sends each delivery as a signed JSON POST.

- At least once: a delivery is marked delivered only after the receiver answered 2xx, in the same
  transaction that held it; a dispatcher killed mid-batch leaves it pending, and it is sent again
  with the same ``X-Approvals-Delivery`` id, by which receivers tell a repeat.
- In order per instance: only the oldest pending delivery of an instance (per webhook) can be
  taken, so a later event of an instance waits until the earlier one is delivered or dead.
- Back-off: a failed attempt waits ``WEBHOOK_RETRY_SECONDS`` × 2^(attempts − 1), at most an hour;
  after ``WEBHOOK_ATTEMPTS`` the delivery is dead (an admin may replay it).
- Several dispatchers: deliveries are taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and
  the fan-out runs one at a time (an advisory lock), so deliveries follow the events' order
  (SQLite has one writer at a time).
- Only allowed hosts: the URL's host is checked again before each send, and redirects are not
  followed."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, select, text
from sqlalchemy.orm import Session, aliased

from ..db import Database, is_postgres
from ..models import (
    DeliveryStatus,
    Event,
    OutboxMessage,
    Project,
    Task,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from . import notifications
from .webhooks import allowed_hosts, host_allowed

BATCH = 50
FAN_OUT_LOCK = 0x61707072  # a PostgreSQL advisory lock key ("appr")
MAX_WAIT = timedelta(hours=1)
# Payload keys an agency may see only on its own steps (what other agencies wrote).
PRIVATE_KEYS = ("opinion", "reason", "text", "data")


@dataclass(frozen=True)
class Settings:
    hosts: frozenset[str]
    attempts: int
    retry_seconds: float
    timeout_seconds: float
    mail: notifications.MailSettings | None = None  # None: nobody is notified by e-mail

    @classmethod
    def of(cls, settings: dict[str, Any]) -> Settings:
        return cls(
            hosts=allowed_hosts(settings.get("WEBHOOK_HOSTS")),
            attempts=int(settings.get("WEBHOOK_ATTEMPTS") or 8),
            retry_seconds=float(settings.get("WEBHOOK_RETRY_SECONDS") or 30),
            timeout_seconds=float(settings.get("WEBHOOK_TIMEOUT_SECONDS") or 10),
            mail=notifications.MailSettings.of(settings),
        )


def run_pass(database: Database, settings: Settings) -> int:
    """One pass: fan out what the outbox holds (webhook deliveries, people's notices), send the
    deliveries that are due, then the mails; returns the webhook deliveries tried."""
    while fan_out(database, notify=settings.mail is not None):
        pass
    sent = 0
    while done := send_due(database, settings):  # a delivered head lets its instance's next one go
        sent += done
    if settings.mail is not None:
        notifications.scan_deadlines(database, settings.mail)
        notifications.send_mails(database, settings.mail)
    return sent


def _locked(session: Session, stmt: Any) -> Any:
    return stmt.with_for_update(skip_locked=True) if is_postgres(session) else stmt


def fan_out(database: Database, notify: bool = False) -> int:
    """Turn up to a batch of outbox rows into deliveries (one per active webhook that wants the
    event's type) and, with ``notify``, into people's notices; delete them; returns the rows handled."""
    with database.session() as session:
        if is_postgres(session):
            # One fan-out at a time: deliveries then follow the events' order, which per instance is
            # the order they were committed in (an instance's changes are serialized by its lock).
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FAN_OUT_LOCK})
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id).limit(BATCH)))
        if not rows:
            return 0
        webhooks = list(session.scalars(select(Webhook).where(Webhook.active.is_(True))))
        for row in rows:
            event = row.event
            if notify:
                notifications.from_event(session, event)
            for webhook in webhooks:
                if _wants(webhook, event.type):
                    session.add(
                        WebhookDelivery(
                            webhook_id=webhook.id,
                            event_id=event.id,
                            instance_id=event.instance_id,
                            delivery_id=_delivery_id(webhook.id, event.id),
                        )
                    )
            session.delete(row)
        return len(rows)


def _wants(webhook: Webhook, event_type: str) -> bool:
    """``*``: every event; ``task.*``: every event of that family; else the exact type."""
    return any(
        wanted == "*" or wanted == event_type or (wanted.endswith(".*") and event_type.startswith(wanted[:-1]))
        for wanted in webhook.events
    )


def _delivery_id(webhook_id: int, event_id: int) -> str:
    """Stable for one event and one webhook: a replay or a retry carries the same id."""
    digest = hashlib.sha256(f"approvals:{webhook_id}:{event_id}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def send_due(database: Database, settings: Settings) -> int:
    """Send up to a batch of due deliveries, each the oldest pending one of its instance for its
    webhook; returns how many were tried."""
    with database.session() as session:
        now = utcnow()
        earlier = aliased(WebhookDelivery)
        waits = exists().where(
            and_(
                earlier.webhook_id == WebhookDelivery.webhook_id,
                earlier.instance_id == WebhookDelivery.instance_id,
                earlier.event_id < WebhookDelivery.event_id,
                earlier.status == DeliveryStatus.PENDING,
            )
        )
        due = list(
            session.scalars(
                _locked(
                    session,
                    select(WebhookDelivery)
                    .where(
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                        WebhookDelivery.next_attempt_at <= now,
                        ~waits,
                    )
                    .order_by(WebhookDelivery.event_id)
                    .limit(BATCH),
                )
            )
        )
        for delivery in due:
            _attempt(session, delivery, settings)
        return len(due)


def _attempt(session: Session, delivery: WebhookDelivery, settings: Settings) -> None:
    webhook, event = delivery.webhook, delivery.event
    delivery.attempts += 1
    if not webhook.active or not host_allowed(webhook.url, settings.hosts):
        delivery.status, delivery.last_error = DeliveryStatus.DEAD, "the webhook's host is no longer allowed"
        return
    body = json.dumps(body_of(session, event, webhook), ensure_ascii=False, separators=(",", ":")).encode()
    status, error = post(webhook.url, body, _headers(webhook, event, delivery, body), settings.timeout_seconds)
    delivery.last_status, delivery.last_error = status, error
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, utcnow()
    elif delivery.attempts >= settings.attempts:
        delivery.status = DeliveryStatus.DEAD
    else:
        wait = timedelta(seconds=settings.retry_seconds * 2 ** (delivery.attempts - 1))
        delivery.next_attempt_at = utcnow() + min(wait, MAX_WAIT)


def _headers(webhook: Webhook, event: Event, delivery: WebhookDelivery, body: bytes) -> dict[str, str]:
    signature = hmac.new(webhook.secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "approvals-webhooks",
        "X-Approvals-Event": event.type,
        "X-Approvals-Delivery": delivery.delivery_id,
        "X-Approvals-Signature": f"sha256={signature}",
    }


def body_of(session: Session, event: Event, webhook: Webhook) -> dict[str, Any]:
    """The event as a receiver gets it; for a webhook of an agency, what other agencies wrote on
    their own steps is left out, as that agency's staff would not see it."""
    payload = dict(event.payload or {})
    if webhook.agency_code is not None and event.task_id is not None:
        task = session.get(Task, event.task_id)
        if task is not None and task.agency_code != webhook.agency_code:
            payload = {k: v for k, v in payload.items() if k not in PRIVATE_KEYS and not k.endswith("_message")}
    project = session.get(Project, event.project_id) if event.project_id is not None else None
    return {
        "type": event.type,
        "event_id": event.id,
        "instance_id": event.instance_id,
        "project_code": project.code if project is not None else None,
        "task_id": event.task_id,
        "actor": event.actor_name,
        "at": event.created_at.isoformat(),
        "payload": payload,
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a redirect could leave the allowed hosts
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    """POST ``body``; (the HTTP status, or None when none came back; what went wrong, if anything)."""
    # The URL was checked to be http(s) on an allowed host just before (host_allowed).
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as answer:  # noqa: S310 - as above
            return answer.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
