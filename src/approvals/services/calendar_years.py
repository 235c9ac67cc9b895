"""The calendar years: official data plus the years admins loaded, as the service reads them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..models import CalendarYear, InstanceStatus, ProcessInstance, Task, TaskKind, User, utcnow
from ..text import msg
from ..workdays import (
    Arrangement,
    ArrangementError,
    WorkCalendar,
    arrangement_from_dict,
    local_date,
    parse_arrangement,
)
from . import events, reference
from .authz import can_manage_users, require
from .deadlines import due_for, parse_time_limit, used_before_send_back
from .errors import InvalidInput


def calendar_of(session: Session) -> WorkCalendar:
    """The calendar with every loaded year: engine calls, due dates and counted days all need it
    (read once per transaction, and cached per process while it does not change)."""
    return reference.cached(session, "calendar", _read_calendar)


def _read_calendar(session: Session) -> WorkCalendar:
    return WorkCalendar(
        {
            row.year: Arrangement(
                row.year,
                frozenset(map(date.fromisoformat, row.rest_days)),
                frozenset(map(date.fromisoformat, row.work_days)),
                row.source,
            )
            for row in session.scalars(select(CalendarYear))
        }
    )


@dataclass
class LoadedYear:
    """A year loaded, and every open step whose due date it moved (the report owners get)."""

    row: CalendarYear
    moved: list[dict[str, Any]] = field(default_factory=list)


def load_year(session: Session, source: str | Mapping[str, Any], actor: User | None) -> LoadedYear:
    """Load (or replace) one year's official arrangement — a year file's text, the State Council's
    notice as published, or the same as a mapping — then, in the same transaction, recompute every
    open step's due date that it changes (each a ``task.due_moved`` event; the report says what moved)."""
    if actor is not None:
        require(can_manage_users(actor), msg("only admins load calendar years"))
    try:
        arrangement = parse_arrangement(source) if isinstance(source, str) else arrangement_from_dict(source)
    except ArrangementError as exc:
        raise InvalidInput(
            msg("the calendar file is invalid: {reason}", reason=exc.message), {exc.field: [exc.message]}
        ) from None
    row = session.get(CalendarYear, arrangement.year) or CalendarYear(year=arrangement.year)
    row.source = arrangement.source
    row.rest_days = sorted(d.isoformat() for d in arrangement.rest_days)
    row.work_days = sorted(d.isoformat() for d in arrangement.work_days)
    row.loaded_by_id = actor.id if actor else None
    row.loaded_at = utcnow()
    session.add(row)
    session.flush()
    reference.bump(session, "calendar")  # the next reader sees the new year
    moved = _recompute_due_dates(session, arrangement.year, actor) + _recompute_timers(session, actor)
    events.record(
        session, "calendar.loaded", actor, payload={"year": row.year, "source": row.source, "moved": len(moved)}
    )
    return LoadedYear(row, moved)


def _recompute_timers(session: Session, actor: User | None) -> list[dict[str, Any]]:
    """Running instances' timers counted in working days (``workdays_after``), computed again with
    the new calendar as of when each began to wait (each a ``timer.moved`` event)."""
    from .instance_change import changing_instance  # (instance changes read the calendar: imported late)

    moved = []
    waiting = session.scalars(
        select(ProcessInstance.id)
        .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_timer_at.is_not(None))
        .order_by(ProcessInstance.id)
    ).all()
    for instance_id in waiting:
        with changing_instance(session, instance_id, actor) as change:
            changes = change.runtime.recompute_workday_timers(change.workflow)
            if not changes:
                change.leave_unchanged()
                continue
            for bpmn_id, before, after in changes:
                report = {
                    "instance_id": instance_id,
                    "project": change.instance.project.code,
                    "step": bpmn_id,
                    "name": "timer",
                    "agency": "",
                    "before": _day_of(before),
                    "after": _day_of(after),
                    "was_provisional": True,
                    "provisional": False,
                }
                events.record(session, "timer.moved", actor, instance=change.instance, payload=report)
                moved.append({**report, "task_id": None})
    return moved


def _day_of(moment: str) -> str:
    try:
        return local_date(datetime.fromisoformat(moment)).isoformat()
    except ValueError:
        return moment


def _recompute_due_dates(session: Session, year: int, actor: User | None) -> list[dict[str, Any]]:
    """Open steps whose due date the new year changes: counted again from when each opened, with
    what was left of its limit (a step sent back earlier resumes), and marked official."""
    calendar = calendar_of(session)
    moved = []
    rows = session.scalars(
        select(Task)
        .where(Task.is_open, Task.kind == TaskKind.STEP, Task.due_at.is_not(None), Task.time_limit.is_not(None))
        .options(joinedload(Task.instance).joinedload(ProcessInstance.project))
        .order_by(Task.id)
    )
    for task in rows:
        limit = parse_time_limit(task.time_limit)
        if limit is None:
            continue
        used = used_before_send_back(session, task.instance_id, {task.bpmn_id: limit[1]})[task.bpmn_id]
        deadline = due_for(calendar, task.created_at, f"{max(limit[0] - used, 0)}{limit[1]}")
        if deadline is None or task.due_at is None:
            continue
        due, before = deadline.end_of_day_utc(), task.due_at
        if due == before and deadline.provisional == task.due_provisional:
            continue
        if local_date(before).year != year and deadline.due.year != year and not task.due_provisional:
            continue  # another year's date that this one does not touch
        was_provisional = task.due_provisional
        task.due_at, task.due_provisional = due, deadline.provisional
        change = {
            "task_id": task.id,
            "instance_id": task.instance_id,
            "project": task.instance.project.code,
            "step": task.bpmn_id,
            "name": task.name,
            "agency": task.agency_code,
            "before": local_date(before).isoformat(),
            "after": deadline.due.isoformat(),
            "was_provisional": was_provisional,
            "provisional": deadline.provisional,
        }
        events.record(
            session, "task.due_moved", actor, instance=task.instance, task=task, payload={**change, "year": year}
        )
        moved.append(change)
    session.flush()
    return moved


def year_view(session: Session, year: int) -> dict[str, Any]:
    """A year as people read it: weekdays off and weekend days worked, and whether it is official."""
    work = calendar_of(session)
    first = date(year, 1, 1)
    days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
    row = session.get(CalendarYear, year)
    return {
        "year": year,
        "official": work.is_official(year),
        "source": row.source if row else ("chinesecalendar" if work.is_official(year) else ""),
        "loaded": row is not None,
        "rest_days": [d for d in days if d.weekday() < 5 and not work.is_workday(d)],
        "work_days": [d for d in days if d.weekday() >= 5 and work.is_workday(d)],
    }


def load_year_files(session: Session, folder: Path) -> list[int]:
    """Load every ``*.toml`` year file of a folder (workflows/calendar/)."""
    return [
        load_year(session, path.read_text(encoding="utf-8"), None).row.year for path in sorted(folder.glob("*.toml"))
    ]
