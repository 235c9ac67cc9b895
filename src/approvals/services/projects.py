"""Projects: the business key every process instance belongs to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Project, User
from ..text import N_, msg, plain_text
from . import events
from .authz import can_manage_projects, require
from .errors import Conflict, InvalidInput, NotFound

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FUNDING_LEVELS = (N_("municipal"), N_("district"))


@dataclass(frozen=True)
class NewProject:
    code: str
    name: str
    owner_unit: str = ""
    funding_level: str = "municipal"
    investment: Decimal | str | int | float | None = None


def _validated(new: NewProject) -> tuple[dict[str, list[str]], Decimal | None]:
    errors: dict[str, list[str]] = {}
    if not CODE.match(new.code or ""):
        errors["code"] = ["1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"]
    if not (new.name or "").strip() or len(new.name) > 300 or not plain_text(new.name):
        errors["name"] = ["required, at most 300 characters, without control or direction-changing characters"]
    if new.funding_level not in FUNDING_LEVELS:
        errors["funding_level"] = [f"one of {', '.join(FUNDING_LEVELS)}"]
    if len(new.owner_unit or "") > 200 or not plain_text(new.owner_unit or ""):
        errors["owner_unit"] = ["at most 200 characters"]
    investment = None
    if new.investment is not None:
        try:
            investment = Decimal(str(new.investment))
            if not investment.is_finite() or investment < 0 or investment >= Decimal("1e16"):
                raise InvalidOperation
        except InvalidOperation:
            errors["investment"] = ["a non-negative amount in 万元"]
    return errors, investment


def create_project(session: Session, new: NewProject, actor: User) -> Project:
    require(can_manage_projects(actor), msg("only the coordinating agency or an admin creates projects"))
    errors, investment = _validated(new)
    if errors:
        raise InvalidInput(msg("invalid project"), errors)
    if session.scalar(select(Project.id).where(Project.code == new.code)) is not None:
        raise Conflict(msg("project {code} exists", code=new.code), {"code": [msg("already used")]})
    project = Project(
        code=new.code,
        name=new.name.strip(),
        owner_unit=new.owner_unit or "",
        funding_level=new.funding_level,
        investment=investment,
        created_by_id=actor.id,
    )
    session.add(project)
    session.flush()
    events.record(
        session, "project.created", actor, project_id=project.id, payload={"code": project.code, "name": project.name}
    )
    return project


def get_project(session: Session, code: str) -> Project:
    project = session.scalar(select(Project).where(Project.code == code))
    if project is None:
        raise NotFound(msg("project {code} not found", code=code))
    return project


def list_projects(session: Session, *, page: int, page_size: int) -> tuple[list[Project], int]:
    total = session.scalar(select(func.count()).select_from(Project)) or 0
    rows = session.scalars(select(Project).order_by(Project.code).offset((page - 1) * page_size).limit(page_size))
    return list(rows), total


def project_facts(project: Project) -> dict[str, Any]:
    """What a model may read about its project (e.g. lane routing by funding level)."""
    return {
        "code": project.code,
        "name": project.name,
        "owner_unit": project.owner_unit,
        "funding_level": project.funding_level,
        "investment": str(project.investment) if project.investment is not None else None,
    }
