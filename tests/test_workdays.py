"""The working-day calendar: 2026 holidays, make-up days, civil-law periods, loaded years."""

from __future__ import annotations

from datetime import date

import pytest

from approvals.workdays import ArrangementError, WorkCalendar, parse_arrangement

CAL = WorkCalendar()


def test_the_domain_example_twenty_working_days_across_national_day():
    # 2026-09-21 + 20 WD crosses Sep 25-27 and Oct 1-7 off, Oct 10 (Saturday) worked.
    assert CAL.add_workdays(date(2026, 9, 21), 20).due == date(2026, 10, 26)
    assert CAL.add_workdays(date(2026, 9, 21), 20).provisional is False


@pytest.mark.parametrize(
    "day, workday",
    [
        (date(2026, 1, 1), False),
        (date(2026, 1, 4), True),  # New Year off; Sunday worked
        (date(2026, 2, 14), True),
        (date(2026, 2, 18), False),  # Spring Festival
        (date(2026, 2, 28), True),
        (date(2026, 4, 6), False),
        (date(2026, 5, 9), True),
        (date(2026, 6, 19), False),
        (date(2026, 9, 20), True),
        (date(2026, 10, 7), False),
        (date(2026, 10, 10), True),
        (date(2026, 10, 8), True),
        (date(2026, 10, 11), False),
    ],
)
def test_2026_official_days(day, workday):
    assert CAL.is_workday(day) is workday


def test_start_day_is_not_counted_and_counting_is_consistent():
    start = date(2026, 4, 30)  # Thursday before the May Day break
    assert CAL.add_workdays(start, 1).due == date(2026, 5, 6)
    assert CAL.workdays_between(start, date(2026, 5, 6)) == 1
    assert CAL.workdays_between(start, start) == 0
    assert CAL.add_workdays(start, 0).due == start


def test_calendar_day_periods_roll_forward_past_rest_days():
    # 20 CD after 2026-09-11 is 2026-10-01 (National Day): the period ends on the next working day.
    assert CAL.add_calendar_days(date(2026, 9, 11), 20).due == date(2026, 10, 8)
    assert CAL.add_calendar_days(date(2026, 9, 1), 7).due == date(2026, 9, 8)


def test_a_year_without_official_data_is_provisional_never_silently_guessed():
    deadline = CAL.add_workdays(date(2026, 12, 20), 20)
    assert deadline.provisional is True
    assert CAL.is_official(2027) is False
    assert CAL.add_workdays(date(2026, 11, 2), 5).provisional is False


def test_a_loaded_year_replaces_the_weekday_guess():
    arrangement = parse_arrangement(
        'year = 2027\nsource = "test"\nrest_days = ["2027-01-01", "2027-02-08..2027-02-12"]\n'
        'work_days = ["2027-02-06"]\n'
    )
    loaded = WorkCalendar({2027: arrangement})
    assert loaded.is_official(2027)
    assert not loaded.is_workday(date(2027, 2, 10)) and loaded.is_workday(date(2027, 2, 6))
    assert loaded.add_workdays(date(2027, 2, 5), 1).due == date(2027, 2, 6)
    assert loaded.add_workdays(date(2027, 2, 6), 1).due == date(2027, 2, 15)
    assert loaded.add_workdays(date(2026, 12, 20), 20).provisional is False


@pytest.mark.parametrize(
    "text, field",
    [
        ("year = 1990", "year"),
        ("nonsense = [", "file"),
        ('year = 2027\nrest_days = ["2027-02-30"]', "rest_days"),
        ('year = 2027\nrest_days = ["2028-01-03"]', "rest_days"),
        ('year = 2027\nrest_days = ["2027-01-02"]', "rest_days"),  # a Saturday
        ('year = 2027\nwork_days = ["2027-01-04"]', "work_days"),  # a Monday
        ('year = 2027\nrest_days = ["2027-02-12..2027-02-08"]', "rest_days"),
        ('year = 2027\nrest_days = "2027-01-01"', "rest_days"),
    ],
)
def test_bad_year_files_name_the_field(text, field):
    with pytest.raises(ArrangementError) as refused:
        parse_arrangement(text)
    assert refused.value.field == field


def test_admins_load_a_year_through_the_api(client, people):
    body = {"source": "国办发明电", "rest_days": ["2027-01-01", "2027-02-08..2027-02-12"], "work_days": ["2027-02-06"]}
    assert client.put("/api/calendar/years/2027", json=body, headers=people.auth("hq")).status_code == 403
    before = client.get("/api/calendar/years/2027", headers=people.auth("hq")).json
    assert before["official"] is False and before["loaded"] is False
    loaded = client.put("/api/calendar/years/2027", json=body, headers=people.auth("admin"))
    assert loaded.status_code == 200, loaded.json
    assert loaded.json["official"] is True and "2027-02-10" in loaded.json["rest_days"]
    assert loaded.json["work_days"] == ["2027-02-06"]
    bad = client.put("/api/calendar/years/2027", json={"rest_days": ["2027-02-30"]}, headers=people.auth("admin"))
    assert bad.status_code == 422 and "rest_days" in bad.json["errors"]["json"]
    # The refused load changed nothing.
    loaded_year = {k: v for k, v in loaded.json.items() if k != "moved"}  # moved: the answer to the load only
    assert (
        loaded.json["moved"] == []
        and client.get("/api/calendar/years/2027", headers=people.auth("hq")).json == loaded_year
    )
    official = client.get("/api/calendar/years/2026", headers=people.auth("hq")).json
    assert official["official"] is True and "2026-10-10" in official["work_days"]
