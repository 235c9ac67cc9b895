"""Where projects stand. Reads task rows only; never deserializes a workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..models import (
    LIVE_STATUSES,
    ProcessDefinition,
    ProcessInstance,
    Project,
    Task,
    TaskKind,
    TaskState,
    User,
    utcnow,
)
from ..text import N_
from ..workdays import WorkCalendar, local_date
from .authz import COORDINATOR, can_read_task
from .calendar_years import calendar_of
from .definitions import stages_of
from .projects import get_project


def project_summaries(session: Session, projects: list[Project]) -> list[dict[str, Any]]:
    """Each project where it stands: the stages (processes, called ones included) its open steps
    are in, the agencies holding them, its open and overdue step counts (steps, not reminders)
    and the next due date. A live instance with no open step (waiting on a timer) names its
    process as the stage."""
    ids = [p.id for p in projects]
    stages: dict[int, list[str]] = {pid: [] for pid in ids}
    live: dict[int, list[str]] = {pid: [] for pid in ids}
    agencies: dict[int, set[str]] = {pid: set() for pid in ids}
    counts: dict[int, list[Any]] = {pid: [0, 0, None] for pid in ids}  # open, overdue, next due
    if ids:
        for project_id, name in session.execute(
            select(ProcessInstance.project_id, ProcessDefinition.name)
            .join(ProcessDefinition, ProcessInstance.definition_id == ProcessDefinition.id)
            .where(ProcessInstance.project_id.in_(ids), ProcessInstance.status.in_(LIVE_STATUSES))
            .order_by(ProcessInstance.id)
        ):
            live[project_id].append(name)
        now = utcnow()
        for project_id, stage, agency, due_at, late in session.execute(
            select(ProcessInstance.project_id, Task.stage, Task.agency_code, Task.due_at, Task.overdue_at(now))
            .join(Task, Task.instance_id == ProcessInstance.id)
            .where(ProcessInstance.project_id.in_(ids), Task.is_open, Task.kind == TaskKind.STEP)
            .order_by(Task.id)
        ):
            if stage and stage not in stages[project_id]:
                stages[project_id].append(stage)
            agencies[project_id].add(agency)
            row = counts[project_id]
            row[0] += 1
            row[1] += 1 if late else 0
            if due_at is not None and (row[2] is None or due_at < row[2]):
                row[2] = due_at
    return [
        {
            "code": p.code,
            "name": p.name,
            "owner_unit": p.owner_unit,
            "funding_level": p.funding_level,
            "investment": p.investment,
            "created_at": p.created_at,
            "stage": stages[p.id] or live[p.id],
            "agencies": sorted(agencies[p.id]),
            "open_tasks": counts[p.id][0],
            "overdue_tasks": counts[p.id][1],
            "next_due_at": counts[p.id][2],
        }
        for p in projects
    ]


# Shenzhen's commitment for government-invested building projects ("Shenzhen 90" reform).
COMMITMENT_WORKDAYS = 85
# What counts toward it (DOMAIN.md): the agencies' approval legs. The applicant's own steps (HQ
# preparing, submitting, correcting) and the tendering periods (a market procedure with its own
# calendar-day periods, not an approval) are shown beside it, not counted.
NOT_APPROVALS = frozenset({"tendering"})
COMMITMENT_RULE = N_(
    "working days on which an agency's statutory step of an approval stage ran (parallel steps once); "
    "not the applicant's steps, not clock-stopped steps, not tendering"
)


@dataclass(frozen=True)
class Leg:
    """One stage of the project's lifecycle and the working days its agencies' statutory steps ran."""

    stage: str
    counted_workdays: int
    counts: bool  # toward the commitment


@dataclass(frozen=True)
class Commitment:
    """The project against the 85-working-day commitment, leg by leg, with the time the file was
    with the applicant beside it."""

    counted_workdays: int
    legs: list[Leg]
    waiting_on_applicant_workdays: int
    commitment_workdays: int = COMMITMENT_WORKDAYS
    rule: str = COMMITMENT_RULE


@dataclass(frozen=True)
class AgencyClock:
    """One agency's statutory clock over its stage of an instance."""

    agency: str
    counted_workdays: int
    limit_workdays: int | None
    overdue: bool
    statutory: bool = True  # False: the agency's steps have no statutory limit; the days it held them


@dataclass(frozen=True)
class Stage:
    """One stage of an instance's lifecycle and how far it is: done, current or to come."""

    label: str
    name: str  # the stage name its steps carry
    state: str  # done, current, pending


@dataclass(frozen=True)
class InstanceProgress:
    """One instance of a project: its open and finished steps, its agencies' clocks and its
    lifecycle's stages."""

    instance: ProcessInstance
    open_tasks: list[Task]
    completed_tasks: list[Task]
    agencies: list[AgencyClock]
    lifecycle: list[Stage] = field(default_factory=list)

    @property
    def stages(self) -> list[str]:
        """The (called) processes it has open steps in: where it stands."""
        return sorted({t.stage for t in self.open_tasks if t.stage})


@dataclass(frozen=True)
class ProjectStatus:
    """Where a project stands, as the API, the pages and the CLI show it (computed here only)."""

    project: Project
    summary: dict[str, Any]  # as in the project list: stage, open and overdue step counts
    instances: list[InstanceProgress]
    commitment: Commitment
    # Steps whose answers (the written opinion) the caller may not read: shown without them.
    unreadable: frozenset[int] = frozenset()

    @property
    def counted_workdays(self) -> int:
        return self.commitment.counted_workdays

    @property
    def commitment_workdays(self) -> int:
        return self.commitment.commitment_workdays

    @property
    def within_commitment(self) -> bool:
        return self.counted_workdays <= self.commitment_workdays

    @property
    def overview(self) -> dict[str, Any]:
        """The project's row in the list, with its statutory clock against the commitment."""
        return {
            **self.summary,
            "counted_workdays": self.counted_workdays,
            "commitment_workdays": self.commitment_workdays,
            "within_commitment": self.within_commitment,
        }


def _statutory_days(calendar: WorkCalendar, steps: list[Task], now: datetime) -> set[date]:
    """The working days on which at least one of ``steps`` was with its agency (parallel steps once)."""
    days: set[date] = set()
    for step in steps:
        start, end = local_date(step.created_at), local_date(step.completed_at or now)
        days.update(
            d for d in (start + timedelta(days=i) for i in range(1, (end - start).days + 1)) if calendar.is_workday(d)
        )
    return days


def _agency_clocks(calendar: WorkCalendar, tasks: list[Task], now: datetime) -> list[AgencyClock]:
    """Every agency with a step in the instance: its statutory clock, or (where none of its steps
    has a statutory limit, as the trading centre's) the working days it held them."""
    by_agency: dict[str, list[Task]] = {}
    for task in tasks:
        if task.is_step:
            by_agency.setdefault(task.agency_code, []).append(task)
    clocks = []
    for agency, held in sorted(by_agency.items()):
        steps = [s for s in held if s.statutory]
        if not steps:
            late = any(s.due_at is not None and (s.completed_at or now) > s.due_at for s in held)
            clocks.append(AgencyClock(agency, len(_statutory_days(calendar, held, now)), None, late, statutory=False))
            continue
        counted = len(_statutory_days(calendar, steps, now))
        limits = [s.limit_workdays for s in steps if s.limit_workdays is not None]
        limit = sum(limits) if len(limits) == len(steps) else None
        late = any(s.due_at is not None and (s.completed_at or now) > s.due_at for s in steps)
        clocks.append(AgencyClock(agency, counted, limit, late or (limit is not None and counted > limit)))
    return clocks


def _commitment(
    calendar: WorkCalendar, progress: list[InstanceProgress], not_approvals: set[str], now: datetime
) -> Commitment:
    """The statutory days of the project, stage by stage; what counts toward the commitment
    (``COMMITMENT_RULE``), and the days an applicant's step was open."""
    steps = [t for s in progress for t in (*s.open_tasks, *s.completed_tasks)]
    agencies = [t for t in steps if t.statutory and t.agency_code != COORDINATOR]
    by_stage: dict[str, list[Task]] = {}
    for task in agencies:
        by_stage.setdefault(task.stage, []).append(task)
    legs = [
        Leg(stage, len(_statutory_days(calendar, rows, now)), stage not in not_approvals)
        for stage, rows in sorted(by_stage.items(), key=lambda item: min(t.created_at for t in item[1]))
    ]
    counted = [t for t in agencies if t.stage not in not_approvals]
    applicant = [t for t in steps if t.agency_code == COORDINATOR and t.stage not in not_approvals]
    return Commitment(
        counted_workdays=len(_statutory_days(calendar, counted, now)),
        legs=legs,
        waiting_on_applicant_workdays=len(_statutory_days(calendar, applicant, now)),
    )


def _lifecycle(stages: list[tuple[str, str]], tasks: list[Task]) -> list[Stage]:
    current = {t.stage for t in tasks if t.is_open and t.is_step}
    seen = {t.stage for t in tasks}
    return [
        Stage(label, name, "current" if name in current else "done" if name in seen else "pending")
        for label, name in stages
    ]


def _not_approvals(session: Session) -> set[str]:
    """The stage names of processes that are not approvals (as task rows name their stage)."""
    names = session.scalars(select(ProcessDefinition.name).where(ProcessDefinition.key.in_(NOT_APPROVALS)))
    return set(names) | set(NOT_APPROVALS)


def project_status(session: Session, code: str, actor: User | None = None) -> ProjectStatus:
    """Where project ``code`` stands; as ``actor`` may see it (None: everything, for the CLI)."""
    project = get_project(session, code)
    instances = list(
        session.scalars(
            select(ProcessInstance)
            .where(ProcessInstance.project_id == project.id)
            .options(joinedload(ProcessInstance.definition))
            .order_by(ProcessInstance.id)
        )
    )
    tasks: dict[int, list[Task]] = {i.id: [] for i in instances}
    if instances:
        for task in session.scalars(
            select(Task)
            .where(Task.instance_id.in_(tasks), Task.state != TaskState.CANCELLED)
            .options(joinedload(Task.assignee), joinedload(Task.completed_by))
            .order_by(Task.id)
        ):
            tasks[task.instance_id].append(task)
    calendar, now = calendar_of(session), utcnow()
    progress = [
        InstanceProgress(
            instance=i,
            open_tasks=[t for t in tasks[i.id] if t.is_open],
            completed_tasks=sorted(
                (t for t in tasks[i.id] if t.state == TaskState.COMPLETED), key=lambda t: (t.completed_at, t.id)
            ),
            agencies=_agency_clocks(calendar, tasks[i.id], now),
            lifecycle=_lifecycle(stages_of(session, i.definition), tasks[i.id]),
        )
        for i in instances
    ]
    unreadable = frozenset(
        task.id for rows in tasks.values() for task in rows if actor is not None and not can_read_task(actor, task)
    )
    return ProjectStatus(
        unreadable=unreadable,
        project=project,
        summary=project_summaries(session, [project])[0],
        instances=progress,
        commitment=_commitment(calendar, progress, _not_approvals(session), now),
    )
