"""Telling people by e-mail (in Chinese, with a link to each step): steps that arrived in their
agency's queue, a step of theirs due soon or overdue, sent back, assigned or delegated to them,
being named a substitute, and a process they worked on coming to its decision.

Notices are made from the audit events as the dispatcher takes them from the outbox (so a change
that rolled back tells nobody), and from the worker's look at deadlines; each waits as a row until
the next mail pass, which sends every user one mail with all their waiting notices (a digest, not
a mail per step) and marks them sent in the same transaction. Each mail is also an event,
``notification.sent``, so a webhook can pass it on to SMS or a messaging app. A user chooses which
notices they want (``User.notify``; None: all) and needs an e-mail address."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..db import Database, is_postgres
from ..models import (
    WORK_ROLES,
    Event,
    Notification,
    NotificationKind,
    ProcessInstance,
    Task,
    TaskKind,
    TaskState,
    User,
    utcnow,
)
from ..text import msg
from ..workdays import LOCAL, local_date
from . import events
from .calendar_years import calendar_of
from .errors import InvalidInput

log = logging.getLogger(__name__)
KINDS = tuple(NotificationKind)
TITLES = {
    NotificationKind.ARRIVED: "新到达的待办",
    NotificationKind.DUE_SOON: "即将到期",
    NotificationKind.OVERDUE: "已超期",
    NotificationKind.SENT_BACK: "被退回",
    NotificationKind.ASSIGNED: "分派给您",
    NotificationKind.SUBSTITUTE: "代理",
    NotificationKind.DECIDED: "已办结",
}
MAX_PER_MAIL = 200


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = False
    base_url: str = "http://127.0.0.1:5000"
    due_soon_workdays: int = 2

    @classmethod
    def of(cls, settings: dict[str, Any]) -> MailSettings | None:
        """None when no SMTP host is set: then nobody is notified (and nothing queues up)."""
        if not settings.get("SMTP_HOST"):
            return None
        return cls(
            host=str(settings["SMTP_HOST"]),
            port=int(settings.get("SMTP_PORT") or 25),
            sender=str(settings.get("SMTP_FROM") or "approvals@localhost"),
            user=str(settings.get("SMTP_USER") or ""),
            password=str(settings.get("SMTP_PASSWORD") or ""),
            starttls=bool(settings.get("SMTP_STARTTLS")),
            base_url=str(settings.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            due_soon_workdays=int(settings.get("NOTIFY_DUE_WORKDAYS") or 2),
        )


def wants(user: User | None, kind: str) -> bool:
    return bool(user and user.active and user.email and (user.notify is None or kind in user.notify))


def set_preferences(session: Session, user: User, email: str | None, kinds: Iterable[str]) -> User:
    """The user's address and the notices they want (their own choice)."""
    kinds = list(kinds)
    errors: dict[str, list[str]] = {}
    if email is not None and email != "" and ("@" not in email or len(email) > 254 or any(c.isspace() for c in email)):
        errors["email"] = [msg("an e-mail address")]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        errors["kinds"] = [msg("one of: {value}", value=", ".join(KINDS))]
    if errors:
        raise InvalidInput(msg("invalid notification settings"), errors)
    user.email = email or None
    user.notify = sorted(set(kinds))
    session.flush()
    return user


def _add(session: Session, user: User | None, kind: str, text: str, task: Task | None, instance_id: int | None) -> None:
    if wants(user, kind):
        assert user is not None  # noqa: S101 - wants() said so
        session.add(Notification(user_id=user.id, kind=kind, text=text, task=task, instance_id=instance_id))


def _where(task: Task) -> str:
    project = task.instance.project
    return f"{project.code} {project.name}：{task.name}"


def from_event(session: Session, event: Event) -> None:
    """The notices an audit event makes (called as the dispatcher takes it from the outbox)."""
    payload = event.payload or {}
    task = session.get(Task, event.task_id) if event.task_id is not None else None
    if event.type == "task.created" and task is not None and task.kind == TaskKind.STEP:
        staff = session.scalars(
            select(User).where(User.agency_code == task.agency_code, User.role.in_(WORK_ROLES), User.active.is_(True))
        )
        for user in staff:
            _add(session, user, NotificationKind.ARRIVED, _where(task), task, task.instance_id)
    elif event.type in ("task.assigned", "task.delegated") and task is not None:
        to = session.scalar(select(User).where(User.username == payload.get("to")))
        _add(session, to, NotificationKind.ASSIGNED, f"{_where(task)}（{event.actor_name}）", task, task.instance_id)
    elif event.type == "task.sent_back" and task is not None:
        earlier = session.scalar(
            select(Task)
            .where(
                Task.instance_id == task.instance_id,
                Task.bpmn_id == payload.get("to_bpmn_id"),
                Task.state == TaskState.COMPLETED,
            )
            .order_by(Task.id.desc())
            .limit(1)
        )
        if earlier is not None and earlier.completed_by is not None:
            text = f"{_where(earlier)} 被“{task.name}”退回：{payload.get('reason') or ''}"
            _add(session, earlier.completed_by, NotificationKind.SENT_BACK, text, earlier, task.instance_id)
    elif event.type == "substitution.created":
        substitute = session.scalar(select(User).where(User.username == payload.get("substitute")))
        text = f"{payload.get('starts_on')} 至 {payload.get('ends_on')} 代理 {payload.get('user')}"
        _add(session, substitute, NotificationKind.SUBSTITUTE, text, None, None)
    elif event.type == "instance.completed" and event.instance_id is not None:
        instance = session.get(ProcessInstance, event.instance_id)
        if instance is None:
            return
        workers = {t.completed_by for t in instance.tasks if t.completed_by is not None}
        result = f"（{instance.result}）" if instance.result else ""
        text = f"{instance.project.code} {instance.project.name}：{instance.definition.name} 已办结{result}"
        for user in sorted(workers, key=lambda u: u.id):
            _add(session, user, NotificationKind.DECIDED, text, None, instance.id)


def scan_deadlines(database: Database, settings: MailSettings) -> int:
    """Due-soon and overdue notices for the holders of open steps, each made once per holder and
    step (what was told already is read in one query, not once a step)."""
    made = 0
    with database.session() as session:
        now, calendar, today = utcnow(), calendar_of(session), local_date(utcnow())
        held = session.scalars(
            select(Task)
            .where(Task.state == TaskState.CLAIMED, Task.kind == TaskKind.STEP, Task.due_at.is_not(None))
            .options(joinedload(Task.assignee), joinedload(Task.instance).joinedload(ProcessInstance.project))
        ).all()
        told = {
            (user_id, kind, task_id)
            for user_id, kind, task_id in session.execute(
                select(Notification.user_id, Notification.kind, Notification.task_id).where(
                    Notification.kind.in_((NotificationKind.DUE_SOON, NotificationKind.OVERDUE)),
                    Notification.task_id.in_([t.id for t in held]),
                )
            )
        }
        for task in held:
            assert task.due_at is not None  # noqa: S101 - selected so
            left = calendar.workdays_left(today, local_date(task.due_at))
            if task.overdue_at(now):
                kind, text = NotificationKind.OVERDUE, f"{_where(task)}（期限 {_local(task.due_at)}）"
            elif left <= settings.due_soon_workdays:
                kind, text = (
                    NotificationKind.DUE_SOON,
                    f"{_where(task)}（期限 {_local(task.due_at)}，剩余 {left} 个工作日）",
                )
            else:
                continue
            if (task.assignee_id, kind, task.id) not in told and wants(task.assignee, kind):
                _add(session, task.assignee, kind, text, task, task.instance_id)
                made += 1
    return made


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def send_mails(database: Database, settings: MailSettings) -> int:
    """One mail to each user with waiting notices, all of them in it; returns the mails sent."""
    sent = 0
    with database.session() as session:
        stmt = (
            select(Notification).where(Notification.sent_at.is_(None)).order_by(Notification.user_id, Notification.id)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        waiting: dict[int, list[Notification]] = {}
        for row in session.scalars(stmt.limit(MAX_PER_MAIL * 20)):
            waiting.setdefault(row.user_id, []).append(row)
        for rows in waiting.values():
            user, rows = rows[0].user, rows[:MAX_PER_MAIL]
            if user.email and user.active:
                try:
                    _send(settings, user, rows)
                except (smtplib.SMTPException, OSError) as exc:  # kept for the next pass
                    log.warning("mail to %s failed: %s", user.username, exc)
                    continue
                kinds = sorted({r.kind for r in rows})
                payload = {"username": user.username, "kinds": kinds, "count": len(rows)}
                events.record(session, "notification.sent", None, payload=payload)
                sent += 1
            for row in rows:
                row.sent_at = utcnow()  # sent, or nobody to send it to any more
    return sent


def _send(settings: MailSettings, user: User, rows: list[Notification]) -> None:
    mail = EmailMessage()
    kinds = list(dict.fromkeys(r.kind for r in rows))
    counts = "、".join(f"{TITLES[NotificationKind(k)]} {sum(r.kind == k for r in rows)} 项" for k in kinds)
    mail["Subject"] = f"【项目审批】{counts}"
    mail["From"] = settings.sender
    mail["To"] = user.email
    lines = [f"{user.display_name or user.username}，您好：", ""]
    for kind in kinds:
        lines.append(f"{TITLES[NotificationKind(kind)]}：")
        for row in (r for r in rows if r.kind == kind):
            link = f"{settings.base_url}/tasks/{row.task_id}" if row.task_id else f"{settings.base_url}/tasks"
            lines.append(f"  · {row.text}\n    {link}")
        lines.append("")
    lines.append(f"如需调整通知设置，请访问 {settings.base_url}/me")
    mail.set_content("\n".join(lines))
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.user:
            smtp.login(settings.user, settings.password)
        smtp.send_message(mail)
