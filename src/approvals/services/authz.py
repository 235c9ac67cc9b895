"""Who may do what: the rules in one place, as plain predicates over a user.

Services check them (``require``); the pages get the same predicates (``TEMPLATE_PREDICATES``) to
decide which links and buttons to show, so a page never offers what the service would refuse.
"""

from __future__ import annotations

from ..models import READ_ALL_ROLES, WORK_ROLES, Role, Task, User
from .errors import Forbidden

# The district construction headquarters coordinates projects and owns their status.
COORDINATOR = "HQ"


def reads_all(user: User) -> bool:
    """Admins, owners and observers read every agency's steps and every project."""
    return user.role in READ_ALL_ROLES


def works_on_steps(user: User) -> bool:
    """Staff and leads: they hold steps, so they have an inbox of their own and can be away."""
    return user.role in WORK_ROLES


def may_take_steps(user: User, agency_code: str) -> bool:
    """Staff and leads of that agency: whom a step of it may be handed to (assign, delegate, stand in)."""
    return user.agency_code == agency_code and works_on_steps(user)


def is_admin(user: User) -> bool:
    return user.role == Role.ADMIN


def is_lead(user: User) -> bool:
    return user.role == Role.LEAD


def can_publish(user: User) -> bool:
    return user.role in (Role.OWNER, Role.ADMIN)


def can_manage_projects(user: User) -> bool:
    """Create projects and start their processes."""
    return is_admin(user) or may_take_steps(user, COORDINATOR)


def can_manage_instances(user: User) -> bool:
    """Suspend, resume and terminate running processes."""
    return is_admin(user) or (user.agency_code == COORDINATOR and is_lead(user))


def can_manage_users(user: User) -> bool:
    """See every user, load calendar years."""
    return is_admin(user)


def can_comment(user: User) -> bool:
    return user.role != Role.OBSERVER


def can_read_agency(user: User, agency_code: str) -> bool:
    return reads_all(user) or user.agency_code == agency_code


def can_read_all_materials(user: User) -> bool:
    """The coordinator and the read-all roles see every instance's materials; others those of
    instances their agency holds or held a step of."""
    return reads_all(user) or user.agency_code == COORDINATOR


def can_read_task(user: User, task: Task) -> bool:
    return can_read_agency(user, task.agency_code) or task.assignee_id == user.id


def can_work_on(user: User, task: Task) -> bool:
    """Claim or complete: staff and leads of the task's agency, or its assignee."""
    return task.assignee_id == user.id or may_take_steps(user, task.agency_code)


def can_assign(user: User, task: Task) -> bool:
    return is_admin(user) or (user.agency_code == task.agency_code and is_lead(user))


def can_release(user: User, task: Task) -> bool:
    """Give a claimed step back to its agency's queue: its assignee, or whoever may assign it
    (a substitute of the assignee may too; that needs the database, see services/substitutes)."""
    return task.assignee_id == user.id or can_assign(user, task)


def can_manage_substitutes_of(actor: User, user: User) -> bool:
    """Name or end a substitute for ``user``: themselves, a lead of their agency, or an admin."""
    return actor.id == user.id or is_admin(actor) or (is_lead(actor) and actor.agency_code == user.agency_code)


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise Forbidden(message)


# What the pages may ask (``{% if can_publish(user) %}``): the same rules the services enforce.
TEMPLATE_PREDICATES = {
    "can_publish": can_publish,
    "can_work_on": can_work_on,
    "can_manage_users": can_manage_users,
    "works_on_steps": works_on_steps,
    "is_lead": is_lead,
    "reads_all": reads_all,
}
