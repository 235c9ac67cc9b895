"""Demo data: users for every agency and the projects of the source report at different stages.

Every demo user's password is ``demo``; this module is only used by ``approvals seed-demo``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Agency, Project
from .services import instances, projects, tasks, users

DEMO_PASSWORD = "demo"

PROJECTS = [
    projects.NewProject(code="SZ-FCC", name="深圳金融文化中心", owner_unit="市建筑工务署", funding_level="municipal"),
    projects.NewProject(code="SZ-IPAC", name="深圳国际演艺中心", owner_unit="市建筑工务署", funding_level="municipal"),
    projects.NewProject(code="SZ-IEC", name="深圳国际交流中心", owner_unit="市建筑工务署", funding_level="municipal"),
]


def _ensure_user(session: Session, username: str, agency: str, role: str, name: str):
    user = users.get_user(session, username)
    if user is None:
        user = users.create_user(session, username=username, password=DEMO_PASSWORD, agency_code=agency,
                                 role=role, display_name=name)
    return user


def seed(session: Session) -> Iterator[str]:
    for agency in session.scalars(select(Agency).order_by(Agency.code)):
        base = agency.code.lower()
        _ensure_user(session, f"{base}_staff", agency.code, "staff", f"{agency.name_zh} 经办人")
        _ensure_user(session, f"{base}_lead", agency.code, "lead", f"{agency.name_zh} 负责人")
    admin = _ensure_user(session, "admin", "HQ", "admin", "系统管理员")
    _ensure_user(session, "owner", "HQ", "owner", "流程负责人")
    _ensure_user(session, "observer", "HQ", "observer", "项目观察员")
    yield f"demo users ready (password {DEMO_PASSWORD!r}): <agency>_staff, <agency>_lead, admin, owner, observer"

    hq = users.get_user(session, "hq_staff")
    for index, new in enumerate(PROJECTS):
        if session.scalar(select(Project).where(Project.code == new.code)) is not None:
            yield f"project {new.code} exists"
            continue
        projects.create_project(session, new, admin)
        instance = instances.start_instance(session, new.code, "sample_review", {}, admin)
        # Bring projects to different points: submitted and under parallel review, or decided.
        if index >= 1:
            submit = instances.open_tasks(session, instance.id)[0]
            tasks.complete_task(session, submit.id, {"application_title": f"{new.name} 联合审查申请",
                                                     "estimated_investment": 100000}, hq)
        if index >= 2:
            for step in instances.open_tasks(session, instance.id):
                reviewer = users.get_user(session, f"{step.agency_code.lower()}_staff")
                tasks.complete_task(session, step.id, {"opinion": "agree"}, reviewer)
        yield f"project {new.code} {new.name}: instance {instance.id} started"
