"""开工准备: parallel site readiness, the construction permit, the ceremony, and the start-deadline timer."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine

from approvals.services import timers
from tests.conftest import publish_file
from tests.scenarios.driver import Scenario, end_of, morning

DONE = {"done_on": "2026-10-09"}
ISSUE = {"permit_decision": "issue", "document_number": "施工许可 440304202610120101"}
APPLICATION = {
    "contractor": "中建某局",
    "supervisor": "某监理公司",
    "funding_confirmed": True,
    "drawings_ready": True,
    "safety_measures_ready": True,
}


@pytest.fixture
def permitted(database):
    """An instance whose construction permit was issued on Monday 2026-10-12."""
    publish_file(database, "groundbreaking.bpmn")
    s = Scenario(database, "groundbreaking", on=date(2026, 10, 9))
    assert s.open_steps() == [
        ("drainage_permit", "WATER"),
        ("hoarding", "HQ"),
        ("land_handover", "URB"),
        ("site_leveling", "HQ"),
        ("traffic_permit", "TRANSPORT"),
    ]
    for step in ("land_handover", "site_leveling", "hoarding"):
        s.do(step, DONE)
    s.do("drainage_permit", ISSUE)
    assert s.open_steps() == [("traffic_permit", "TRANSPORT")]  # the permit waits for the whole site
    s.do("traffic_permit", ISSUE)
    s.do("apply_construction_permit", APPLICATION)
    # 7 calendar days after Friday 2026-10-09 is Friday 2026-10-16, a working day.
    assert s.step("construction_permit").due_at == end_of(date(2026, 10, 16))
    s.do("construction_permit", ISSUE, on=date(2026, 10, 12))
    return s


def fire_timers_on(database, day: date) -> int:
    with time_machine.travel(morning(day), tick=False):
        return timers.run_due(database)


def test_permit_application_refuses_unmet_preconditions(database):
    from approvals.services.errors import InvalidInput

    publish_file(database, "groundbreaking.bpmn")
    s = Scenario(database, "groundbreaking")
    for step in ("land_handover", "site_leveling", "hoarding"):
        s.do(step, DONE)
    s.do("drainage_permit", ISSUE)
    s.do("traffic_permit", ISSUE)
    with pytest.raises(InvalidInput) as refused:
        s.do("apply_construction_permit", {**APPLICATION, "funding_confirmed": False})
    assert "funding_confirmed" in refused.value.errors["data"]


def test_own_ceremony_is_approved_prepared_and_work_starts_in_time(permitted, database):
    s = permitted
    assert s.open_steps() == [("ceremony_decision", "HQ")]
    s.do("ceremony_decision", {"ceremony": "own"})
    s.do("ceremony_approval", {"ceremony_approved": "approve", "approval_number": "1"})
    assert [b for b, _ in s.open_steps()] == ["prep_guests", "prep_media", "prep_security", "prep_site"]
    for step in ("prep_guests", "prep_media", "prep_security", "prep_site"):
        s.do(step)
    s.do("record_start", {"started_on": "2026-11-18"}, on=date(2026, 11, 18))
    assert s.status() == "completed" and s.result() == "已开工"
    assert fire_timers_on(database, date(2027, 3, 1)) == 0  # the deadline watch ended with the start


def test_collective_start_skips_the_event_preparation(permitted):
    permitted.do("ceremony_decision", {"ceremony": "collective"})
    assert permitted.open_steps() == [("record_start", "HQ")]


def test_start_deadline_with_two_extensions_then_expiry(permitted, database):
    s = permitted
    assert fire_timers_on(database, date(2027, 1, 11)) == 0  # three months not yet passed
    assert fire_timers_on(database, date(2027, 1, 13)) == 1
    assert ("request_extension", "HQ") in s.open_steps()
    for extension, (asked, expires) in enumerate(
        [(date(2027, 1, 13), date(2027, 4, 14)), (date(2027, 4, 14), date(2027, 7, 15))], start=1
    ):
        s.do("request_extension", {"reason": "征拆未完成"}, on=asked)
        s.do("extension_decision", {"extension_decision": "approve"}, on=asked)
        assert ("request_extension", "HQ") not in s.open_steps()
        assert fire_timers_on(database, expires) == 1, extension
    # Two extensions used: the third deadline ends the permit, and the ceremony branch with it.
    assert s.status() == "completed" and s.result() == "施工许可证失效"
    assert s.open_steps() == []


def test_refused_extension_ends_the_permit(permitted, database):
    assert fire_timers_on(database, date(2027, 1, 13)) == 1
    permitted.do("request_extension", {"reason": "资金未到位"}, on=date(2027, 1, 13))
    permitted.do("extension_decision", {"extension_decision": "refuse"})
    assert permitted.result() == "施工许可证失效"
