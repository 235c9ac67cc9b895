"""The calendar years: official data plus the years admins loaded, as the service reads them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import CalendarYear, User, utcnow
from ..workdays import (
    Arrangement,
    ArrangementError,
    WorkCalendar,
    arrangement_from_dict,
    parse_arrangement,
)
from . import events, reference
from .authz import can_manage_users, require
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


def load_year(session: Session, source: str | Mapping[str, Any], actor: User | None) -> CalendarYear:
    """Load (or replace) one year's official arrangement: a year file's text, or the same as a mapping."""
    if actor is not None:
        require(can_manage_users(actor), "only admins load calendar years")
    try:
        arrangement = parse_arrangement(source) if isinstance(source, str) else arrangement_from_dict(source)
    except ArrangementError as exc:
        raise InvalidInput(f"the calendar file is invalid: {exc}", {exc.field: [str(exc).split(": ", 1)[1]]}) from None
    row = session.get(CalendarYear, arrangement.year) or CalendarYear(year=arrangement.year)
    row.source = arrangement.source
    row.rest_days = sorted(d.isoformat() for d in arrangement.rest_days)
    row.work_days = sorted(d.isoformat() for d in arrangement.work_days)
    row.loaded_by_id = actor.id if actor else None
    row.loaded_at = utcnow()
    session.add(row)
    session.flush()
    reference.bump(session, "calendar")  # the next reader sees the new year
    events.record(session, "calendar.loaded", actor, payload={"year": row.year, "source": row.source})
    return row


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
    return [load_year(session, path.read_text(encoding="utf-8"), None).year for path in sorted(folder.glob("*.toml"))]
