"""Demo data: users for every agency and the projects of the source report at different stages.

Every demo user's password is ``demo``; this module is used by ``approvals seed-demo`` and its
answers by the lifecycle test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Agency, Project, Role, TaskKind, utcnow
from .services import instances, projects, tasks, users
from .services.calendar_years import calendar_of
from .services.material_types import material_fields
from .workdays import local_date

DEMO_PASSWORD = "demo"

ISSUE = {"permit_decision": "issue", "document_number": "证-001"}
AGREE = {"opinion": "agree"}
DONE = {"done_on": "2026-12-01"}
# What each step's agency fills in, by BPMN id: the demo's (and the lifecycle test's) answers.
ANSWERS: dict[str, dict[str, Any]] = {
    "prepare_report": {
        "proposal_approval_number": "深发改〔2025〕88号",
        "construction_scale": "约12万平方米",
        "estimated_investment": 350000,
        "funding_source": "municipal_budget",
    },
    "check_prerequisites": {"site_book_status": "in_progress"},
    "submit_report": {"submitted_on": "2026-09-21"},
    "acceptance_check": {"acceptance_decision": "accept", "acceptance_number": "受理-1"},
    "assess_need": {"evaluation_needed": False},
    "decide": {
        "decision": "approve",
        "approval_number": "深发改〔2026〕512号",
        "approved_investment": 348000,
        "tender_scope": "施工、监理",
        "tender_method": "open",
        "tender_organisation": "agent",
    },
    "apply_site_book": {"site": "福田区", "land_area": 20000},
    "site_book_decision": ISSUE,
    "land_permit_decision": ISSUE,
    "engineering_permit_decision": ISSUE,
    "record_feasibility": {"feasibility_approval_number": "深发改〔2026〕512号", "approved_investment": 348000},
    "design_scheme": {"scheme_summary": "方案"},
    "traffic_opinion": AGREE,
    "water_opinion": AGREE,
    "fire_review": AGREE,
    "budget_estimate": {"budget_estimate": 360000},
    "budget_review": {"budget_decision": "approve", "approval_number": "概算-1", "approved_budget": 360000},
    "prepare_announcement": {"tender_method": "open", "issued_on": "2026-10-01", "bid_deadline": "2026-10-30"},
    "publish_announcement": {"notice_number": "GG-1", "published_on": "2026-10-01", "sale_days": 5},
    "clarifications": {"clarifications_issued": 0, "objections_received": 0},
    "bid_opening": {"opened_on": "2026-10-30", "bids_received": 4},
    "evaluation": {"committee_size": 5, "expert_members": 4, "candidates": ["甲", "乙", "丙"]},
    "award_decision": {"award_rule": "first_ranked", "winner": "甲"},
    "publicity": {"publicity_start": "2026-11-02", "publicity_days": 3},
    "record_objections": {"objection_received": False},
    "answer_document_objection": {"objection_on": "2026-10-01", "answered_on": "2026-10-03", "answer": "已答复"},
    "award_notice": {"winner": "甲", "notice_on": "2026-11-06"},
    "sign_contract": {"contract_number": "HT-1", "signed_on": "2026-11-20", "amount": 100000000},
    "contract_filing": {"filing_number": "BA-1"},
    "other_procurement": {"procurement_method": "direct", "supplier": "某围挡公司"},
    "land_handover": DONE,
    "site_leveling": DONE,
    "hoarding": DONE,
    "drainage_permit": ISSUE,
    "traffic_permit": ISSUE,
    "apply_construction_permit": {
        "contractor": "甲",
        "supervisor": "乙",
        "funding_confirmed": True,
        "drawings_ready": True,
        "safety_measures_ready": True,
    },
    "construction_permit": ISSUE,
    "ceremony_decision": {"ceremony": "collective"},
    "record_start": {"started_on": "2027-01-15"},
}

# Contract packages of the source report (the hoarding package is below the tender threshold).
PACKAGES = [
    {"name": "基坑支护设计", "type": "design", "estimate": 3_000_000},
    {"name": "施工图设计", "type": "design", "estimate": 45_000_000},
    {"name": "工程监理", "type": "supervision", "estimate": 12_000_000},
    {"name": "施工围挡", "type": "construction", "estimate": 900_000},
    {"name": "施工总承包", "type": "construction", "estimate": 1_800_000_000},
]

# The demo's overdue step: the traffic opinion of SZ-IPAC (see _make_overdue).
OVERDUE = ("SZ-IPAC", "traffic_opinion")
# Each project is worked until every open step is one of these: where the demo leaves it.
PROJECTS = [
    (
        projects.NewProject(code="SZ-FCC", name="深圳金融文化中心", owner_unit="市建筑工务署"),
        {"acceptance_check", "site_book_decision"},
    ),
    (
        projects.NewProject(code="SZ-IPAC", name="深圳国际演艺中心", owner_unit="市建筑工务署"),
        {"traffic_opinion", "water_opinion", "fire_review"},
    ),
    (
        projects.NewProject(code="SZ-IEC", name="深圳国际交流中心", owner_unit="市建筑工务署"),
        {"bid_opening", "other_procurement"},
    ),
]


def _ensure_user(session: Session, username: str, agency: str, role: str, name: str):
    user = users.get_user(session, username)
    if user is None:
        user = users.create_user(
            session, username=username, password=DEMO_PASSWORD, agency_code=agency, role=role, display_name=name
        )
    return user


def sample_pdf(title: str) -> bytes:
    """A small valid one-page PDF standing in for a real document."""
    text = title.encode("ascii", "replace")
    stream = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def attach_sample_materials(session: Session, task, worker, answer: dict) -> None:
    """Attach a sample PDF for every material field of the step's form (a document the step issues
    carries the number its answer gives)."""
    for field in material_fields(tasks.form_of(task)):
        number = answer.get("approval_number") or answer.get("document_number")
        tasks.attach_material(
            session,
            task.id,
            worker,
            name=f"{task.bpmn_id}-{field}.pdf",
            stream=io.BytesIO(sample_pdf(f"{task.bpmn_id} {field}")),
            field=field,
            document_number=number,
        )


def work_until(session: Session, instance_id: int, stop_at: set[str], limit: int = 200) -> None:
    """Complete open steps with the demo answers, as each agency's staff, until only ``stop_at`` remain."""
    for _ in range(limit):
        pending = [
            t for t in instances.open_tasks(session, instance_id, kind=TaskKind.STEP) if t.bpmn_id not in stop_at
        ]
        if not pending:
            return
        for task in pending:
            worker = users.get_user(session, f"{task.agency_code.lower()}_staff")
            assert worker is not None  # noqa: S101 - the demo made one per agency
            answers: dict[str, Any] = ANSWERS[task.bpmn_id]
            attach_sample_materials(session, task, worker, answers)
            tasks.complete_task(session, task.id, answers, worker)


def seed(session: Session) -> Iterator[str]:
    for agency in session.scalars(select(Agency).order_by(Agency.code)):
        base = agency.code.lower()
        _ensure_user(session, f"{base}_staff", agency.code, Role.STAFF, f"{agency.name_zh} 经办人")
        _ensure_user(session, f"{base}_lead", agency.code, Role.LEAD, f"{agency.name_zh} 负责人")
    admin = _ensure_user(session, "admin", "HQ", Role.ADMIN, "系统管理员")
    _ensure_user(session, "owner", "HQ", Role.OWNER, "流程负责人")
    _ensure_user(session, "observer", "HQ", Role.OBSERVER, "项目观察员")
    yield f"demo users ready (password {DEMO_PASSWORD!r}): <agency>_staff, <agency>_lead, admin, owner, observer"

    for new, stop_at in PROJECTS:
        if session.scalar(select(Project).where(Project.code == new.code)) is not None:
            yield f"project {new.code} exists"
            continue
        projects.create_project(session, new, admin)
        instance, _ = instances.start_instance(session, new.code, "project_lifecycle", {"packages": PACKAGES}, admin)
        work_until(session, instance.id, stop_at)
        waiting = sorted({f"{t.name} ({t.agency_code})" for t in instances.open_tasks(session, instance.id)})
        yield f"project {new.code} {new.name}: instance {instance.id}, waiting on {', '.join(waiting)}"
        if new.code == OVERDUE[0]:
            yield _make_overdue(session, instance.id, OVERDUE[1])


def _make_overdue(session: Session, instance_id: int, bpmn_id: str) -> str:
    """Date one open step back as if it had arrived 30 calendar days ago, so that the demo shows a
    step past its statutory limit (the lead's overdue list, the worker's reminder)."""
    task = next(t for t in instances.open_tasks(session, instance_id) if t.bpmn_id == bpmn_id)
    arrived = utcnow() - timedelta(days=30)
    days = int((task.time_limit or "5WD").removesuffix("WD").removesuffix("CD"))
    task.created_at = arrived
    task.due_at = calendar_of(session).add_workdays(local_date(arrived), days).end_of_day_utc()
    return f"step {task.name} ({task.agency_code}) dated back: due {local_date(task.due_at)}, overdue"
