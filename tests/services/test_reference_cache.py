"""The calendar and the agency directory are cached per process (services/reference.py): what an
admin loads through another server process takes effect at once, and a load that was rolled back
never does. A second ``Database`` on the same URL has its own pool, hence its own cache: it plays
the other process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from approvals.db import Database
from approvals.services import agencies, calendar_years, definitions, instances, projects, tasks, users
from approvals.services.errors import ModelInvalid
from approvals.services.limits import Limits
from tests.conftest import AGENCIES, BPMN_DIR, read_forms
from tests.helpers import SUBMISSION

# Monday 2026-12-21, 10:00 in Shenzhen: a 20 WD limit ends in 2027, a year with no data yet.
BEFORE_NEW_YEAR = datetime(2026, 12, 21, 2, 0, tzinfo=UTC)
YEAR_2027 = 'year = 2027\nrest_days = ["2027-01-01", "2027-01-04", "2027-01-05"]\n'


@pytest.fixture
def other_process(database_url, data_dir):
    other = Database(database_url, {"limits": Limits(data_dir=str(data_dir))})
    yield other
    other.dispose()


def _review_due(database, code):
    """Start the sample for a new project and submit it; the planning review's due date."""
    with database.session() as session:
        admin, hq = users.get_user(session, "admin"), users.get_user(session, "hq")
        projects.create_project(session, projects.NewProject(code=code, name="项目"), admin)
        instance, (submit,) = instances.start_instance(session, code, "sample_review", {}, admin)
        _, steps = tasks.complete_task(session, submit.id, SUBMISSION, hq)
        planning = next(t for t in steps if t.bpmn_id == "review_planning")
        return planning.due_at, planning.due_provisional


def test_a_year_loaded_by_another_process_sets_the_next_due_date_here(database, other_process, people, sample):
    with time_machine.travel(BEFORE_NEW_YEAR, tick=False):
        provisional_due, provisional = _review_due(database, "P-1")  # this process now holds the calendar
        assert provisional
        with other_process.session() as session:
            calendar_years.load_year(session, YEAR_2027, users.get_user(session, "admin"))
        due, provisional = _review_due(database, "P-2")
    assert not provisional
    # Three more rest days in the window: the limit ends three working days later.
    assert (due.date() - provisional_due.date()).days >= 3


def test_a_load_rolled_back_changes_nothing_anywhere(database, other_process, people, sample):
    with time_machine.travel(BEFORE_NEW_YEAR, tick=False):
        before = _review_due(database, "P-1")
        with pytest.raises(RuntimeError), database.session() as session:
            calendar_years.load_year(session, YEAR_2027, users.get_user(session, "admin"))
            assert not calendar_years.calendar_of(session).is_workday(datetime(2027, 1, 4).date())  # seen inside
            raise RuntimeError("the admin's request failed after the load")
        assert _review_due(other_process, "P-2") == before  # nothing landed
        # Another year file is loaded for real: both processes count with that one.
        with other_process.session() as session:
            calendar_years.load_year(
                session, 'year = 2027\nrest_days = ["2027-01-01"]\n', users.get_user(session, "admin")
            )
        loaded = _review_due(other_process, "P-3")
        assert not loaded[1] and loaded[0] != before[0]
        assert _review_due(database, "P-4") == loaded


def test_an_alias_loaded_by_another_process_is_accepted_at_publish_here(database, other_process, tmp_path, sample):
    bpmn = (BPMN_DIR / "sample_review.bpmn").read_text().replace('name="WATER"', 'name="水务部门"')
    forms = read_forms(BPMN_DIR / "sample_review.bpmn")
    with database.session() as session, pytest.raises(ModelInvalid) as refused:
        definitions.publish(session, bpmn.encode(), forms, None)
    assert "水务部门" in str(refused.value.errors)

    directory = tmp_path / "agencies.toml"
    directory.write_text(
        AGENCIES.read_text(encoding="utf-8").replace('"水务局"', '"水务局", "水务部门"', 1), encoding="utf-8"
    )
    assert "水务部门" in directory.read_text(encoding="utf-8")
    with other_process.session() as session:
        agencies.load_agencies(session, directory)

    with database.session() as session:
        definition, _ = definitions.publish(session, bpmn.encode(), forms, None)
        assert definition.version == 2
