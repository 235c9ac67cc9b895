"""Who may do what: the rules in one place, as plain predicates over a user."""

from __future__ import annotations

from ..models import Task, User
from .errors import Forbidden

# The district construction headquarters coordinates projects and owns their status.
COORDINATOR = "HQ"
READ_ALL_ROLES = ("admin", "observer", "owner")
WORK_ROLES = ("staff", "lead")


def can_publish(user: User) -> bool:
    return user.role in ("owner", "admin")


def can_manage_projects(user: User) -> bool:
    """Create projects and start their processes."""
    return user.role == "admin" or (user.agency_code == COORDINATOR and user.role in WORK_ROLES)


def can_manage_instances(user: User) -> bool:
    """Suspend, resume and terminate running processes."""
    return user.role == "admin" or (user.agency_code == COORDINATOR and user.role == "lead")


def can_read_agency(user: User, agency_code: str) -> bool:
    return user.role in READ_ALL_ROLES or user.agency_code == agency_code


def can_read_task(user: User, task: Task) -> bool:
    return can_read_agency(user, task.agency_code) or task.assignee_id == user.id


def can_work_on(user: User, task: Task) -> bool:
    """Claim or complete: staff and leads of the task's agency, or its assignee."""
    return task.assignee_id == user.id or (user.agency_code == task.agency_code and user.role in WORK_ROLES)


def can_assign(user: User, task: Task) -> bool:
    return user.role == "admin" or (user.agency_code == task.agency_code and user.role == "lead")


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise Forbidden(message)
