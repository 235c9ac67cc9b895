"""Next year's calendar (issue 17, 3): the notice as published loads, and every open due date it
changes is counted again in the same transaction, audited, with a report of what moved."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import time_machine
from sqlalchemy import func, select

from approvals.models import Event, Task
from approvals.services import calendar_years, instances
from approvals.workdays import WorkCalendar, parse_arrangement
from tests.factories import complete, start, user
from tests.helpers import SUBMISSION

DATA = Path(__file__).parent.parent / "data"
# Monday 2026-12-21, 10:00 in Shenzhen: reviews opened now run into 2027, which has no official data yet.
LATE = datetime(2026, 12, 21, 2, 0, tzinfo=UTC)
EARLY = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def test_the_2026_notice_as_published_reads_as_the_official_data():
    arrangement = parse_arrangement((DATA / "notice_2026.txt").read_text(encoding="utf-8"))
    work = WorkCalendar({2026: arrangement})
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    assert [d for d in days if work.is_workday(d) != chinese_calendar.is_workday(d)] == []
    assert arrangement.source == "国务院办公厅关于2026年部分节假日安排的通知"
    assert date(2026, 9, 20) in arrangement.work_days and date(2026, 10, 2) in arrangement.rest_days


def _reviews(session, code: str) -> int:
    instance, (submit,) = start(session, "sample_review", code)
    complete(session, submit, SUBMISSION, "hq")
    return instance.id


def test_loading_2027_recomputes_thirty_instances_provisional_due_dates(database, people, sample):
    with time_machine.travel(LATE, tick=False), database.session() as session:
        late = [_reviews(session, f"N-{n:02d}") for n in range(30)]
    with time_machine.travel(EARLY, tick=False), database.session() as session:
        early = _reviews(session, "E-01")
    with database.session() as session:
        rows = session.scalars(select(Task).where(Task.instance_id.in_(late), Task.is_open)).all()
        # Counted on plain weekdays into 2027 (Jan 1 counted as a working day), and marked provisional:
        # WATER 15 WD: Dec 22-25 (4), 28-31 (8), Jan 1 (9), 4-8 (14), 11 (15) -> 2027-01-11;
        # PNR 20 WD: ... Jan 11 (15), 12-15 (19), 18 (20) -> 2027-01-18.
        assert {(r.bpmn_id, _day(r.due_at), r.due_provisional) for r in rows} == {
            ("review_water", date(2027, 1, 11), True),
            ("review_planning", date(2027, 1, 18), True),
        }
        before_early = {r.id: r.due_at for r in session.scalars(select(Task).where(Task.instance_id == early))}

    with database.session() as session:
        loaded = calendar_years.load_year(
            session, (DATA / "notice_2027_for_tests.txt").read_text(encoding="utf-8"), user(session, "admin")
        )
    # With Jan 1-3 a holiday, each period ends one working day later, now official:
    # WATER: Jan 4-8 (13), 11 (14), 12 (15) -> 2027-01-12; PNR: ... 12-15 (18), 18 (19), 19 (20) -> 2027-01-19.
    assert len(loaded.moved) == 60
    assert {(m["step"], m["before"], m["after"], m["was_provisional"], m["provisional"]) for m in loaded.moved} == {
        ("review_water", "2027-01-11", "2027-01-12", True, False),
        ("review_planning", "2027-01-18", "2027-01-19", True, False),
    }
    assert sorted({m["instance_id"] for m in loaded.moved}) == sorted(late)
    with database.session() as session:
        rows = session.scalars(select(Task).where(Task.instance_id.in_(late), Task.is_open)).all()
        assert {(r.bpmn_id, _day(r.due_at), r.due_provisional) for r in rows} == {
            ("review_water", date(2027, 1, 12), False),
            ("review_planning", date(2027, 1, 19), False),
        }
        moved_events = session.scalar(select(func.count()).where(Event.type == "task.due_moved"))
        assert moved_events == 60
        (loaded_event,) = session.scalars(select(Event).where(Event.type == "calendar.loaded")).all()
        assert loaded_event.payload["moved"] == 60 and loaded_event.actor_name == "admin"
        # A step whose due date lies in 2026 is left as it was.
        assert {r.id: r.due_at for r in session.scalars(select(Task).where(Task.instance_id == early))} == before_early
        assert instances.get_instance(session, late[0]).status == "running"


def _day(moment: datetime) -> date:
    from approvals.workdays import local_date

    return local_date(moment)


def test_a_timer_counted_in_working_days_moves_with_the_new_year(database, people):
    """workdays_after(3) from Wednesday 2026-12-30, on plain weekdays: Dec 31, Jan 1, Jan 4 -> the end
    of 2027-01-04; with Jan 1 a holiday: Dec 31, Jan 4, Jan 5 -> the end of 2027-01-05. The timer is
    computed again as of when it began to wait, not from the day the year is loaded."""
    from approvals.services import definitions

    with time_machine.travel(datetime(2026, 12, 30, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        definitions.publish(session, (DATA / "workday_timer.bpmn").read_bytes(), {}, None)
        instance, (first,) = start(session, "workday_timer", "W-1")
        complete(session, first, {}, "hq")
        iid = instance.id
    with database.session() as session:
        assert _day(instances.get_instance(session, iid).next_timer_at) == date(2027, 1, 4)
    with time_machine.travel(datetime(2027, 1, 2, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        loaded = calendar_years.load_year(
            session, (DATA / "notice_2027_for_tests.txt").read_text(encoding="utf-8"), user(session, "admin")
        )
    assert [(m["step"], m["before"], m["after"]) for m in loaded.moved] == [("wait", "2027-01-04", "2027-01-05")]
    with database.session() as session:
        assert _day(instances.get_instance(session, iid).next_timer_at) == date(2027, 1, 5)
        (moved,) = session.scalars(select(Event).where(Event.type == "timer.moved")).all()
        assert moved.instance_id == iid and moved.payload["after"] == "2027-01-05"


def test_the_api_answers_what_a_loaded_year_moved(client, people, database, sample):
    with time_machine.travel(LATE, tick=False), database.session() as session:
        late = _reviews(session, "A-01")
    body = {"source": "测试", "rest_days": ["2027-01-01"], "work_days": []}
    answer = client.put("/api/calendar/years/2027", json=body, headers=people.auth("admin"))
    assert answer.status_code == 200, answer.json
    assert sorted((m["step"], m["before"], m["after"]) for m in answer.json["moved"]) == [
        ("review_planning", "2027-01-18", "2027-01-19"),
        ("review_water", "2027-01-11", "2027-01-12"),
    ]
    assert {m["instance_id"] for m in answer.json["moved"]} == {late}
