"""Small factories for service-level tests: a test states only what matters to it.

Each takes the test's session and builds through the services (so the rules still apply); the
users are those of the ``people`` fixture (tests/conftest.py: STANDARD_USERS).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from approvals.models import ProcessInstance, Project, Role, Task, User
from approvals.services import instances, projects, tasks, users


def user(session: Session, username: str) -> User:
    """A user of the ``people`` fixture, e.g. ``user(session, "pnr")``."""
    found = users.get_user(session, username)
    assert found is not None, f"no user {username!r}: add it to STANDARD_USERS or make_user it"
    return found


def make_user(session: Session, username: str, agency: str = "HQ", role: Role = Role.STAFF) -> User:
    return users.create_user(session, username=username, password="pw-" + username, agency_code=agency, role=role)


def make_project(
    session: Session,
    code: str = "P-1",
    name: str = "测试项目",
    *,
    funding_level: str = "municipal",
    investment: Decimal | None = None,
) -> Project:
    return projects.create_project(
        session,
        projects.NewProject(code=code, name=name, funding_level=funding_level, investment=investment),
        user(session, "admin"),
    )


def start(
    session: Session, process_key: str = "sample_review", code: str = "P-1", data: dict[str, Any] | None = None
) -> tuple[ProcessInstance, list[Task]]:
    """A new project ``code`` (made if needed) running ``process_key``: the instance and its open steps."""
    if session.scalar(select(Project.id).where(Project.code == code)) is None:
        make_project(session, code)
    return instances.start_instance(session, code, process_key, data or {}, user(session, "admin"))


def complete(
    session: Session, step: Task, data: dict[str, Any], username: str | None = None, opinion: str | None = None
) -> list[Task]:
    """Complete ``step`` as ``username`` (default: the staff user of its agency); the open steps afterwards."""
    actor = user(session, username or step.agency_code.lower())
    return tasks.complete_task(session, step.id, data, actor, opinion=opinion)[1]
