"""Due dates and counted working days on steps, with the clock moved (time-machine)."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from approvals.services import calendar, instances, projects, tasks, users
from tests.helpers import SUBMISSION, submitted_sample

# 10:00 in Shenzhen on Monday 2026-09-21.
MONDAY_MORNING = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)


def test_due_dates_follow_the_step_limits_and_2026_holidays(database, people, sample):
    with time_machine.travel(MONDAY_MORNING, tick=False), database.session() as session:
        admin, hq = users.get_user(session, "admin"), users.get_user(session, "hq")
        projects.create_project(session, projects.NewProject(code="P-1", name="项目"), admin)
        instance, _ = instances.start_instance(session, "P-1", "sample_review", {}, admin)
        (submit,) = instances.open_tasks(session, instance.id)
        assert submit.due_at is None and submit.time_limit is None  # the applicant's own step has no limit
        tasks.complete_task(session, submit.id, SUBMISSION, hq)
        reviews = {t.bpmn_id: t for t in instances.open_tasks(session, instance.id)}
        planning = reviews["review_planning"]
        # 20 WD after 2026-09-21 is 2026-10-26; due at the end of that day in Shenzhen.
        assert planning.time_limit == "20WD" and planning.limit_workdays == 20
        assert planning.due_at == datetime(2026, 10, 26, 15, 59, 59, tzinfo=UTC)
        assert planning.due_provisional is False
        assert reviews["review_water"].due_at == datetime(2026, 10, 19, 15, 59, 59, tzinfo=UTC)  # 15 WD

    # Completed on 2026-10-09 (Friday after the holiday): Sep 22-24, 28-30, Oct 8-9 = 8 working days.
    with time_machine.travel(datetime(2026, 10, 9, 3, 0, tzinfo=UTC), tick=False), database.session() as session:
        tasks.complete_task(session, planning.id, {"opinion": "agree"}, users.get_user(session, "pnr"))
        done = session.get(type(planning), planning.id)
        assert done.counted_workdays == 8


def test_open_steps_count_live_and_go_overdue(client, people, sample):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        submitted_sample(client, people)
    with time_machine.travel(datetime(2026, 10, 12, 3, 0, tzinfo=UTC), tick=False):
        (planning,) = client.get("/api/tasks", headers=people.auth("pnr")).json["items"]
        assert planning["counted_workdays"] == 10 and planning["overdue"] is False  # + Oct 10 (Sat, worked), Oct 12
    with time_machine.travel(datetime(2026, 10, 27, 1, 0, tzinfo=UTC), tick=False):
        late = client.get("/api/tasks?overdue=true", headers=people.auth("pnr")).json["items"]
        assert [t["bpmn_id"] for t in late] == ["review_planning"] and late[0]["overdue"] is True
        status = client.get("/api/projects/P-1/status", headers=people.auth("observer")).json
        assert status["project"]["overdue_tasks"] == 2  # planning (20 WD) and water (15 WD)


def test_a_due_date_in_a_year_without_data_is_provisional_until_the_year_is_loaded(database, people, sample):
    with time_machine.travel(datetime(2026, 12, 21, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        admin, hq = users.get_user(session, "admin"), users.get_user(session, "hq")
        projects.create_project(session, projects.NewProject(code="P-2", name="项目"), admin)
        instance, _ = instances.start_instance(session, "P-2", "sample_review", {}, admin)
        tasks.complete_task(session, instances.open_tasks(session, instance.id)[0].id, SUBMISSION, hq)
        assert all(t.due_provisional for t in instances.open_tasks(session, instance.id))

        calendar.load_year(session, 'year = 2027\nrest_days = ["2027-01-01"]\n', admin)
        second, _ = instances.start_instance(session, "P-2", "sample_review", {}, admin)
        tasks.complete_task(session, instances.open_tasks(session, second.id)[0].id, SUBMISSION, hq)
        assert not any(t.due_provisional for t in instances.open_tasks(session, second.id))
