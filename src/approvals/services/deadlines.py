"""The statutory clock on steps: due dates from time limits, and the working days a step counted."""

from __future__ import annotations

from datetime import datetime

from ..models import Task
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
