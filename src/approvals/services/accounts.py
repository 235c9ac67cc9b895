"""Administering accounts (admins): create users, change a user's agency, role or name,
deactivate and reactivate them, reset passwords. Every change is an audit event naming who made
it and what it was before.

A user who can no longer do their agency's steps (deactivated, moved to another agency, or given
a role that does not work on steps) hands back the steps they had claimed: they return to their
agency's queue, as if released, so nothing waits on someone who will not do it. Deactivating a
user or resetting their password also ends their sessions and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from ..models import WORK_ROLES, Agency, ApiToken, Role, Task, TaskState, TokenScope, User, utcnow
from ..text import msg
from . import events
from .authz import can_manage_users, require
from .errors import Conflict, InvalidInput, NotFound
from .instance_change import changing_task
from .users import MIN_PASSWORD, create_user, get_user, issue_token

MAX_DISPLAY_NAME = 200


def _require_admin(actor: User) -> None:
    require(can_manage_users(actor), msg("only admins manage users"))


def _user(session: Session, username: str) -> User:
    user = get_user(session, username)
    if user is None:
        raise NotFound(msg("no user {username!r}", username=username))
    return user


def add_user(
    session: Session, actor: User, *, username: str, password: str, agency_code: str, role: str, display_name: str = ""
) -> User:
    _require_admin(actor)
    user = create_user(
        session, username=username, password=password, agency_code=agency_code, role=role, display_name=display_name
    )
    events.record(
        session,
        "user.created",
        actor,
        payload={"username": user.username, "agency": user.agency_code, "role": user.role},
    )
    return user


@dataclass(frozen=True)
class UserChange:
    """What to change of a user; None leaves it as it is."""

    agency_code: str | None = None
    role: str | None = None
    display_name: str | None = None
    active: bool | None = None


def change_user(session: Session, actor: User, username: str, change: UserChange) -> User:
    _require_admin(actor)
    user = _user(session, username)
    errors: dict[str, list[str]] = {}
    if change.role is not None and change.role not in tuple(Role):
        errors["role"] = [msg("one of: {value}", value=", ".join(Role))]
    if change.agency_code is not None and session.get(Agency, change.agency_code) is None:
        errors["agency"] = [msg("unknown agency {agency!r}", agency=change.agency_code)]
    if change.display_name is not None and not 1 <= len(change.display_name.strip()) <= MAX_DISPLAY_NAME:
        errors["display_name"] = [msg("1 to {largest}", largest=MAX_DISPLAY_NAME)]
    if errors:
        raise InvalidInput(msg("invalid user"), errors)
    if user.id == actor.id and (change.active is False or (change.role is not None and change.role != Role.ADMIN)):
        raise Conflict(msg("you cannot deactivate yourself or give up being an admin; ask another admin"))
    before = {"agency": user.agency_code, "role": user.role, "display_name": user.display_name, "active": user.active}
    if change.agency_code is not None:
        user.agency_code = change.agency_code
    if change.role is not None:
        user.role = change.role
    if change.display_name is not None:
        user.display_name = change.display_name.strip()
    if change.active is not None:
        user.active = change.active
    after = {"agency": user.agency_code, "role": user.role, "display_name": user.display_name, "active": user.active}
    changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if not changed:
        return user
    session.flush()
    events.record(session, "user.changed", actor, payload={"username": user.username, "changed": changed})
    if not user.active:
        _end_sessions(session, user)
    if not user.active or "agency" in changed or user.role not in WORK_ROLES:
        _hand_back_steps(session, user, actor)
    return user


def reset_password(session: Session, actor: User, username: str, password: str) -> User:
    _require_admin(actor)
    user = _user(session, username)
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(msg("invalid user"), {"password": [msg("at least {n} characters", n=MIN_PASSWORD)]})
    user.password_hash = generate_password_hash(password)
    _end_sessions(session, user)
    events.record(session, "user.password_reset", actor, payload={"username": user.username})
    return user


def _end_sessions(session: Session, user: User) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _hand_back_steps(session: Session, user: User, actor: User) -> None:
    """The steps the user had claimed go back to their agency's queue."""
    claimed = session.scalars(
        select(Task.id).where(Task.assignee_id == user.id, Task.state == TaskState.CLAIMED).order_by(Task.id)
    ).all()
    reason = msg("{username} can no longer do it", username=user.username)
    for task_id in claimed:
        with changing_task(session, task_id, actor) as change:
            task = change.task
            if task.state != TaskState.CLAIMED or task.assignee_id != user.id:
                change.leave_unchanged()
                continue
            task.assignee = None
            task.delegated_by = None
            task.state = TaskState.OPEN
            task.claimed_at = None
            events.record(
                session,
                "task.unclaimed",
                actor,
                instance=change.instance,
                task=task,
                payload={"from": user.username, "reason": reason, "reason_message": reason.as_json()},
            )


def issue_service_token(session: Session, actor: User, username: str, days: int) -> tuple[User, str, datetime]:
    """A token of scope ``messages`` for ``username``: its system may deliver messages, nothing else."""
    _require_admin(actor)
    user = _user(session, username)
    if not user.active:
        raise Conflict(msg("{username} is deactivated", username=username))
    token, expires_at = issue_token(session, user, days, TokenScope.MESSAGES)
    events.record(session, "token.issued", actor, payload={"username": username, "scope": "messages", "days": days})
    return user, token, expires_at
