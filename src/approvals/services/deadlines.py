"""The statutory clock on steps: due dates from time limits, and the working days a step counted."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Select, bindparam, case, func, select, union_all
from sqlalchemy.orm import Session, aliased

from ..models import SENT_BACK, Task
from ..workdays import Deadline, WorkCalendar, local_date


def parse_time_limit(value: str | None) -> tuple[int, str] | None:
    """'20WD' -> (20, 'WD'); '7CD' -> (7, 'CD'); None when the step has no limit."""
    if not value:
        return None
    return int(value[:-2]), value[-2:]


def due_for(calendar: WorkCalendar, created_at: datetime, time_limit: str | None) -> Deadline | None:
    limit = parse_time_limit(time_limit)
    if limit is None:
        return None
    count, unit = limit
    start = local_date(created_at)
    return calendar.add_workdays(start, count) if unit == "WD" else calendar.add_calendar_days(start, count)


def counted_workdays(calendar: WorkCalendar, task: Task, now: datetime) -> int:
    """Working days the step has been with its agency (the start day not counted)."""
    end = task.completed_at if task.completed_at is not None else now
    return calendar.workdays_between(local_date(task.created_at), local_date(end))


def workdays_so_far(calendar: WorkCalendar, task: Task, now: datetime) -> int | None:
    """Counted working days as people see them: stored when a step finishes, counted until now while it is open."""
    return counted_workdays(calendar, task, now) if task.is_open else task.counted_workdays


def used_before_send_back(session: Session, instance_id: int, units: dict[str, str]) -> dict[str, int]:
    """Days each of these steps already used in its latest runs that ended by sending the instance
    back: working days counted for a "WD" limit, calendar days for a "CD" one (one query for all
    of them; none when no limited step opens). Only the runs since the step last finished normally
    are read: a loop's long history before that counts for nothing."""
    used = dict.fromkeys(units, 0)
    if not units:
        return used
    params: dict[str, Any] = {"instance_id": instance_id}
    for n, (bpmn_id, unit) in enumerate(units.items()):
        params |= {f"b{n}": bpmn_id, f"cd{n}": unit == "CD"}
    for bpmn_id, counted, created_at, completed_at in session.execute(_sent_back_runs(len(units)), params):
        if units[bpmn_id] == "WD":
            used[bpmn_id] += counted or 0
        elif created_at is not None and completed_at is not None:  # calendar days, from opening to going back
            used[bpmn_id] += (local_date(completed_at) - local_date(created_at)).days
    return used


@cache  # by the number of steps (a few): building the statement costs more than running it
def _sent_back_runs(count: int) -> Select[str, int | None, datetime | None, datetime | None]:
    """The runs of ``count`` steps of an instance (``b0``, ``b1``…) that sent it back since the
    step last finished normally, with when each opened and went back if the step's limit is in
    calendar days (``cd0``, ``cd1``…; else None: turning them into datetimes was most of the
    reading). Each step's last normal finish is found walking its runs back from the latest (the
    (instance, state, step, id) index), so it reads only the runs since then, which are read
    anyway; the runs that sent the instance back come through their own index. No subquery
    depends on the run: one that did would walk again for every run sent back."""
    finished = aliased(Task)

    def restarted(n: int) -> Select[Any]:
        bpmn_id = bindparam(f"b{n}", type_=Task.bpmn_id.type)
        last = (
            select(finished.id)
            .where(
                finished.instance_id == bindparam("instance_id"),
                finished.bpmn_id == bpmn_id,
                finished.finished_normally,
            )
            .order_by(finished.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        calendar_days = bindparam(f"cd{n}", type_=Boolean)
        return select(bpmn_id.label("bpmn_id"), func.coalesce(last, 0).label("after"), calendar_days.label("cd"))

    steps = [restarted(n) for n in range(count)]
    since = (steps[0] if count == 1 else union_all(*steps)).subquery()
    return (
        select(
            Task.bpmn_id,
            Task.counted_workdays,
            case((since.c.cd, Task.created_at)),
            case((since.c.cd, Task.completed_at)),
        )
        .join(since, since.c.bpmn_id == Task.bpmn_id)
        .where(
            Task.instance_id == bindparam("instance_id"),
            Task.outcome == SENT_BACK,  # completed, as every step sent back: read through their partial index
            Task.id > since.c.after,
        )
    )
