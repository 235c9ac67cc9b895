"""The Chinese working-day calendar and the civil-law rules for counting periods.

Sources, in order: a year arrangement loaded by an admin (the State Council publishes next year's
each November), then the official data of ``chinesecalendar`` (2004-2026), then, for a year with
neither, plain weekdays: a date computed that way is *provisional* and says so.

Periods follow 民法典 art. 201/203: the start day is not counted, and a period counted in calendar
days whose last day is a rest day ends on the next working day.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from .text import msg

LOCAL = ZoneInfo("Asia/Shanghai")
MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class Arrangement:
    """One year's official arrangement: weekdays that are rest days, weekend days that are worked."""

    year: int
    rest_days: frozenset[date]
    work_days: frozenset[date]
    source: str = ""


@dataclass(frozen=True)
class Deadline:
    due: date
    provisional: bool  # some day counted lies in a year without official data

    def end_of_day_utc(self) -> datetime:
        """The last moment of the due day in Shenzhen, as an aware UTC datetime."""
        return datetime.combine(self.due, time(23, 59, 59), tzinfo=LOCAL).astimezone(ZoneInfo("UTC"))


class ArrangementError(ValueError):
    """What is wrong with a year's arrangement: the field at fault and why (a message people read)."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


def _dates(values, year: int, field_name: str) -> set[date]:
    """ISO dates or 'start..end' ranges, all inside ``year``."""
    if not isinstance(values, list):
        raise ArrangementError(field_name, msg("must be a list of dates or 'YYYY-MM-DD..YYYY-MM-DD' ranges"))
    days: set[date] = set()
    for value in values:
        try:
            first, _, last = str(value).partition("..")
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise ArrangementError(field_name, msg("{value!r} is not a date or a date range", value=value)) from None
        if end < start or start.year != year or end.year != year:
            raise ArrangementError(
                field_name, msg("{value!r} must be a forward range inside {year}", value=value, year=year)
            )
        days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return days


def parse_arrangement(text: str) -> Arrangement:
    """Read a year file (see workflows/calendar/README.md), or the State Council's notice as
    published (its text, one holiday a paragraph); raise ArrangementError naming the field."""
    if "放假" in text:
        return parse_notice(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ArrangementError("file", msg("not valid TOML: {exc}", exc=exc)) from None
    return arrangement_from_dict(data)


_NOTICE_YEAR = re.compile(r"关于\s*(\d{4})\s*年部分节假日安排")
_DAY = r"(?:(\d{1,2})月)?(\d{1,2})日(?:（[^）]*）|\([^)]*\))?"
_REST = re.compile(_DAY + r"(?:\s*至\s*" + _DAY + r")?\s*放假")
_WORK = re.compile(r"((?:" + _DAY + r"[、，,\s]*)+)\s*上班")


def parse_notice(text: str) -> Arrangement:
    """The arrangement as the State Council's notice states it, e.g.
    "二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、
    2月28日（周六）上班。": rest from the first date to the second (weekdays among them are the rest
    days to list), and the weekend days named before 上班 are worked."""
    found = _NOTICE_YEAR.search(text)
    if found is None:
        raise ArrangementError("file", msg("the notice names no year (\u201c关于YYYY年部分节假日安排\u201d)"))
    year = int(found.group(1))
    rest: set[date] = set()
    work: set[date] = set()
    for line in text.splitlines():
        for m in _REST.finditer(line):
            start = _notice_day(year, m.group(1), m.group(2), None)
            end = _notice_day(year, m.group(3), m.group(4), start.month) if m.group(4) else start
            if end < start:
                raise ArrangementError("rest_days", msg("{value!r} ends before it starts", value=m.group(0)))
            rest.update(d for i in range((end - start).days + 1) if (d := start + timedelta(days=i)).weekday() < 5)
        for m in _WORK.finditer(line):
            month = None
            for day in re.finditer(_DAY, m.group(1)):
                worked = _notice_day(year, day.group(1), day.group(2), month)
                month = worked.month
                if worked.weekday() >= 5:
                    work.add(worked)
    if not rest:
        raise ArrangementError("rest_days", msg("the notice lists no holiday (\u201c…日至…日放假\u201d)"))
    return arrangement_from_dict(
        {
            "year": year,
            "source": found.group(0).replace("关于", "国务院办公厅关于") + "的通知",
            "rest_days": sorted(d.isoformat() for d in rest),
            "work_days": sorted(d.isoformat() for d in work),
        }
    )


def _notice_day(year: int, month: str | None, day: str, month_before: int | None) -> date:
    try:
        return date(year, int(month) if month else (month_before or 1), int(day))
    except ValueError:
        raise ArrangementError(
            "file", msg("{value}月{day}日 is not a date of {year}", value=month or month_before, day=day, year=year)
        ) from None


def arrangement_from_dict(data: Mapping) -> Arrangement:
    """Check a year's arrangement given as {year, source, rest_days, work_days}."""
    year = data.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ArrangementError("year", msg("a year between 2000 and 2100 is required"))
    rest = _dates(data.get("rest_days", []), year, "rest_days")
    work = _dates(data.get("work_days", []), year, "work_days")
    if rest & work:
        raise ArrangementError("work_days", msg("{min} is also listed as a rest day", min=min(rest & work)))
    if any(d.weekday() >= 5 for d in rest):
        raise ArrangementError("rest_days", msg("list only weekdays; weekends are rest days unless in work_days"))
    if any(d.weekday() < 5 for d in work):
        raise ArrangementError("work_days", msg("list only weekend days worked in lieu (调休)"))
    return Arrangement(year, frozenset(rest), frozenset(work), str(data.get("source", "")))


@dataclass
class WorkCalendar:
    arrangements: Mapping[int, Arrangement] = field(default_factory=dict)
    # What was worked out once: a calendar is kept per reference revision and asked about the
    # same days on every step (a 20-working-day limit asks about some 30 days).
    _official: dict[int, bool] = field(default_factory=dict, init=False, repr=False, compare=False)
    _workdays: dict[date, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def is_official(self, year: int) -> bool:
        known = self._official.get(year)
        if known is None:
            known = self._official[year] = self._is_official(year)
        return known

    def _is_official(self, year: int) -> bool:
        if year in self.arrangements:
            return True
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: date) -> bool:
        known = self._workdays.get(day)
        if known is None:
            known = self._workdays[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: date) -> bool:
        arrangement = self.arrangements.get(day.year)
        if arrangement is not None:
            if day in arrangement.work_days:
                return True
            return day.weekday() < 5 and day not in arrangement.rest_days
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            return day.weekday() < 5

    def add_workdays(self, start: date, count: int) -> Deadline:
        """The ``count``-th working day after ``start`` (the start day itself is not counted)."""
        if not 0 <= count <= MAX_PERIOD_DAYS:
            raise ValueError(f"a period of {count} working days is out of range")
        day, provisional, counted = start, False, 0
        while counted < count:
            day += timedelta(days=1)
            provisional |= not self.is_official(day.year)
            counted += self.is_workday(day)
        return Deadline(day, provisional)

    def add_calendar_days(self, start: date, count: int) -> Deadline:
        """``count`` calendar days after ``start``; a last day that is a rest day rolls forward."""
        if not 0 <= count <= MAX_PERIOD_DAYS:
            raise ValueError(f"a period of {count} days is out of range")
        day = start + timedelta(days=count)
        provisional = not self.is_official(day.year)
        while not self.is_workday(day):
            day += timedelta(days=1)
            provisional |= not self.is_official(day.year)
        return Deadline(day, provisional)

    def workdays_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        return sum(self.is_workday(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))

    def workdays_left(self, on: date, due: date) -> int:
        """Working days from ``on`` to the due day: 0 on the due day itself (or a rest day before
        it with none between), negative once it has passed (the working days overdue)."""
        if due >= on:
            return self.workdays_between(on, due)
        return -self.workdays_between(due, on)


def local_date(moment: datetime) -> date:
    """The Shenzhen calendar date of an aware datetime."""
    return moment.astimezone(LOCAL).date()


def today() -> date:
    """Today in Shenzhen (the date the statutes count in, whatever the server's time zone)."""
    return local_date(datetime.now(UTC))
