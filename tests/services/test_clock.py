"""Due dates and counted working days on steps, with the clock moved (time-machine)."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from approvals.services import calendar_years, definitions
from approvals.services.instance_change import open_tasks
from approvals.services.send_back import send_back
from tests.conftest import BPMN_DIR, read_forms
from tests.factories import complete, start, user
from tests.helpers import SUBMISSION, statements_sent

# 10:00 in Shenzhen on Monday 2026-09-21.
MONDAY_MORNING = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)


def test_due_dates_follow_the_step_limits_and_2026_holidays(database, people, sample):
    with time_machine.travel(MONDAY_MORNING, tick=False), database.session() as session:
        _, (submit,) = start(session)
        assert submit.due_at is None and submit.time_limit is None  # the applicant's own step has no limit
        reviews = {t.bpmn_id: t for t in complete(session, submit, SUBMISSION)}
        planning = reviews["review_planning"]
        # 20 WD after 2026-09-21 is 2026-10-26; due at the end of that day in Shenzhen.
        assert planning.time_limit == "20WD" and planning.limit_workdays == 20
        assert planning.due_at == datetime(2026, 10, 26, 15, 59, 59, tzinfo=UTC)
        assert planning.due_provisional is False
        assert reviews["review_water"].due_at == datetime(2026, 10, 19, 15, 59, 59, tzinfo=UTC)  # 15 WD

    # Completed on 2026-10-09 (Friday after the holiday): Sep 22-24, 28-30, Oct 8-9 = 8 working days.
    with time_machine.travel(datetime(2026, 10, 9, 3, 0, tzinfo=UTC), tick=False), database.session() as session:
        complete(session, planning, {"opinion": "agree"})
        done = session.get(type(planning), planning.id)
        assert done.counted_workdays == 8


def test_a_due_date_in_a_year_without_data_is_provisional_until_the_year_is_loaded(database, people, sample):
    with time_machine.travel(datetime(2026, 12, 21, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        _, (submit,) = start(session, code="P-2")
        assert all(t.due_provisional for t in complete(session, submit, SUBMISSION))

        calendar_years.load_year(session, 'year = 2027\nrest_days = ["2027-01-01"]\n', user(session, "admin"))
        _, (submit,) = start(session, code="P-2")
        assert not any(t.due_provisional for t in complete(session, submit, SUBMISSION))


def test_the_send_back_history_is_read_only_in_instances_that_were_sent_back(database, people, sample):
    """A step that opens again after a send back resumes its clock with what is left; the runs
    that ended in a send back are read for that, and only in instances where one happened."""
    with time_machine.travel(MONDAY_MORNING, tick=False), database.session() as session:
        instance, (submit,) = start(session)
    with time_machine.travel(MONDAY_MORNING, tick=False):
        first, history = _reads_of_send_backs(database, lambda session: complete(session, submit, SUBMISSION))
    assert history == 0 and {t.bpmn_id: t.limit_workdays for t in first} == {"review_planning": 20, "review_water": 15}
    planning = next(t for t in first if t.bpmn_id == "review_planning")
    # Thursday 2026-09-24, three working days in: planning sends the application back to the submission.
    with time_machine.travel(datetime(2026, 9, 24, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        send_back(session, planning.id, "submit", "材料不全", user(session, "pnr"))
        (submit,) = open_tasks(session, instance.id)
    with time_machine.travel(datetime(2026, 9, 28, 2, 0, tzinfo=UTC), tick=False):
        again, history = _reads_of_send_backs(database, lambda session: complete(session, submit, SUBMISSION))
    assert history == 1
    # Planning resumes with 17 of its 20 days; water, cancelled by the send back, was not sent back itself.
    assert {t.bpmn_id: t.limit_workdays for t in again} == {"review_planning": 17, "review_water": 15}


def _reads_of_send_backs(database, change):
    """What ``change(session)`` returns, and how many of its statements read the runs that ended in
    a send back (``deadlines.used_before_send_back``: those since the step's last normal end)."""
    with statements_sent(database.engine) as sent, database.session() as session:
        result = change(session)
    return result, sum(sql.startswith("SELECT task.bpmn_id, task.counted_workdays") for sql, _ in sent)


def test_a_step_limited_in_calendar_days_resumes_with_the_days_left_after_a_send_back(database, people, sample):
    """Calendar days count from the day the step opened to the day it sent the file back; the
    step opens again with the rest."""
    model = (BPMN_DIR / "sample_review.bpmn").read_text().replace('value="20WD"', 'value="10CD"', 1)
    with database.session() as session:
        definitions.publish(session, model.encode(), read_forms(BPMN_DIR / "sample_review.bpmn"), None)
    # Monday 2026-11-02, 10:00 in Shenzhen: due ten calendar days later, Thursday 2026-11-12.
    with time_machine.travel(datetime(2026, 11, 2, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        instance, (submit,) = start(session)
        planning = next(t for t in complete(session, submit, SUBMISSION) if t.bpmn_id == "review_planning")
        assert planning.time_limit == "10CD" and planning.due_at == datetime(2026, 11, 12, 15, 59, 59, tzinfo=UTC)
    # Thursday 2026-11-05: three calendar days used.
    with time_machine.travel(datetime(2026, 11, 5, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        send_back(session, planning.id, "submit", "材料不全", user(session, "pnr"))
        (submit,) = open_tasks(session, instance.id)
    # Resubmitted Monday 2026-11-09: seven calendar days left, due Monday 2026-11-16 (not the 19th).
    with time_machine.travel(datetime(2026, 11, 9, 2, 0, tzinfo=UTC), tick=False), database.session() as session:
        again = next(t for t in complete(session, submit, SUBMISSION) if t.bpmn_id == "review_planning")
        assert again.due_at == datetime(2026, 11, 16, 15, 59, 59, tzinfo=UTC) and again.limit_workdays is None
