"""招标投标 for one package: thresholds by decision table, re-tender, objections, contract deadlines."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine

from approvals.models import Task, TaskState
from approvals.services.errors import Forbidden, InvalidInput, NotFound
from tests.conftest import BPMN_DIR, publish_file
from tests.scenarios.driver import Scenario, end_of, morning

ANNOUNCE = {"tender_method": "open", "issued_on": "2026-09-21", "bid_deadline": "2026-10-12"}
OPENED = {"opened_on": "2026-10-12", "bids_received": 5}
EVALUATED = {"committee_size": 7, "expert_members": 5, "candidates": ["甲公司", "乙公司", "丙公司"]}
AWARD = {"award_rule": "separation", "winner": "乙公司"}


@pytest.fixture
def tender(database):
    with database.session() as session:
        from approvals.services import definitions

        definitions.publish(session, (BPMN_DIR / "tender_thresholds.dmn").read_bytes(), {}, None)
    publish_file(database, "tendering.bpmn")

    def start(package_type="construction", estimate=500_000_000, **kwargs) -> Scenario:
        return Scenario(
            database,
            "tendering",
            data={"package": {"name": "施工总承包", "type": package_type, "estimate": estimate}},
            **kwargs,
        )

    return start


def to_opening(s: Scenario) -> None:
    s.do("prepare_announcement", ANNOUNCE)
    s.do("publish_announcement", {"notice_number": "SZ-2026-001", "published_on": "2026-09-21", "sale_days": 5})
    s.do(
        "clarifications", {"clarifications_issued": 1, "last_clarification_on": "2026-09-25", "objections_received": 0}
    )


def through_opening(s: Scenario, bids: int = 5) -> None:
    to_opening(s)
    s.do("bid_opening", {**OPENED, "bids_received": bids})


@pytest.mark.parametrize(
    "package_type, estimate, must",
    [
        ("construction", 4_000_000, True),
        ("construction", 3_999_999, False),
        ("goods", 2_000_000, True),
        ("goods", 1_500_000, False),
        ("design", 1_000_000, True),
        ("supervision", 999_999, False),
    ],
)
def test_the_threshold_table_decides_whether_to_tender(tender, package_type, estimate, must):
    s = tender(package_type, estimate)
    assert s.open_steps() == ([("prepare_announcement", "PWB")] if must else [("other_procurement", "PWB")])


def test_below_threshold_ends_with_other_procurement(tender):
    s = tender("goods", 1_500_000)
    s.do("other_procurement", {"procurement_method": "inquiry", "supplier": "某供应商"})
    assert s.result() == "已采用其他方式采购"


def test_a_deadline_under_twenty_days_is_sent_back(tender):
    s = tender()
    s.do("prepare_announcement", {**ANNOUNCE, "bid_deadline": "2026-10-10"})  # 19 days
    assert s.open_steps() == [("prepare_announcement", "PWB")]
    s.do("prepare_announcement", ANNOUNCE)
    assert s.open_steps() == [("publish_announcement", "TRADING")]


def test_fewer_than_three_bids_means_a_new_round(tender):
    s = tender()
    through_opening(s, bids=2)
    assert s.open_steps() == [("record_retender", "PWB")]
    s.do("record_retender", {"reason": "仅2家投标"})
    through_opening(s, bids=3)
    assert s.open_steps() == [("evaluation", "EXPERTS")]


def test_objection_upheld_reopens_evaluation_then_contract_and_filing(tender):
    s = tender(on=date(2026, 10, 12))
    through_opening(s)
    with pytest.raises(InvalidInput):  # a committee of 6 is not an odd number
        s.do("evaluation", {**EVALUATED, "committee_size": 6})
    s.do("evaluation", EVALUATED)
    s.do("award_decision", AWARD)
    s.do("publicity", {"publicity_start": "2026-10-13", "publicity_days": 3})
    # The publicity runs Oct 14, 15, 16 (the start day not counted) and ends by its timer.
    assert s.open_steps() == [] and s.fire_timers(date(2026, 10, 16)) == 0
    assert s.fire_timers(date(2026, 10, 17)) == 1
    s.do("record_objections", {"objection_received": True})
    objection = s.step("answer_objection")
    # Answered within 3 calendar days of Saturday 2026-10-17: Tuesday 2026-10-20.
    assert objection.due_at == end_of(date(2026, 10, 20))
    s.do("answer_objection", {"objection_upheld": True, "answer": "评标存在错误，重新评审"})
    assert s.open_steps() == [("evaluation", "EXPERTS")]
    s.do("evaluation", EVALUATED)
    s.do("award_decision", AWARD)
    s.do("publicity", {"publicity_start": "2026-10-20", "publicity_days": 3})
    s.fire_timers(date(2026, 10, 24))
    s.do("record_objections", {"objection_received": True})
    s.do("answer_objection", {"objection_upheld": False, "answer": "异议不成立"})
    # Answered after the period's end: the process asks at once for objections not yet answered.
    assert s.open_steps() == [("record_objections", "PWB")]
    s.do("record_objections", {"objection_received": False})
    s.do("award_notice", {"winner": "乙公司", "notice_on": "2026-10-26"}, on=date(2026, 10, 26))
    # The contract within 30 days of Monday 2026-10-26: Wednesday 2026-11-25.
    assert s.step("sign_contract").due_at == end_of(date(2026, 11, 25))
    s.do(
        "sign_contract",
        {"contract_number": "HT-001", "signed_on": "2026-11-02", "amount": 480000000},
        on=date(2026, 11, 2),
    )
    filing = s.step("contract_filing")
    assert filing.agency_code == "HCB" and filing.due_at == end_of(date(2026, 11, 17))
    s.do("contract_filing", {"filing_number": "BA-001"})
    assert s.result() == "合同已备案"


def test_a_calendar_day_period_sent_back_resumes_with_what_is_left(tender):
    """民法典 art. 201-203: a 30-calendar-day contract period that went back on its 12th day resumes
    with 18 days when the step opens again, its last day rolled off a rest day, as the working-day
    clock resumes (issue 17, 1)."""
    s = tender(on=date(2026, 10, 12))
    through_opening(s)
    s.do("evaluation", EVALUATED)
    s.do("award_decision", AWARD)
    s.do("publicity", {"publicity_start": "2026-10-13", "publicity_days": 3})
    s.fire_timers(date(2026, 10, 17))
    s.do("record_objections", {"objection_received": False})
    s.do("award_notice", {"winner": "乙公司", "notice_on": "2026-10-23"}, on=date(2026, 10, 23))
    # Opened Friday 2026-10-23: 30 days later is Sunday 2026-11-22, so the period ends Monday 2026-11-23.
    assert s.step("sign_contract").due_at == end_of(date(2026, 11, 23))
    # Day 12 (Wednesday 2026-11-04): the notice named the wrong bidder's address; back it goes.
    s.send_back("sign_contract", "award_notice", on=date(2026, 11, 4))
    s.do("award_notice", {"winner": "乙公司", "notice_on": "2026-11-09"}, on=date(2026, 11, 9))
    # 18 days are left from Monday 2026-11-09: Friday 2026-11-27, a working day.
    assert s.step("sign_contract").due_at == end_of(date(2026, 11, 27))
    # A second send back, on day 5 of what is left (Saturday 2026-11-14 counted as any day):
    s.send_back("sign_contract", "award_notice", on=date(2026, 11, 14))
    s.do("award_notice", {"winner": "乙公司", "notice_on": "2026-11-16"}, on=date(2026, 11, 16))
    # 30 - 12 - 5 = 13 days from Monday 2026-11-16: Sunday 2026-11-29, rolled to Monday 2026-11-30.
    assert s.step("sign_contract").due_at == end_of(date(2026, 11, 30))


def test_a_clarification_on_day_minus_14_moves_the_bid_deadline(tender):
    """实施条例 art. 21: a clarification fewer than 15 days before the deadline moves it to 15 days
    after the clarification; the 20-day rule (招标投标法 art. 24) is checked again on the new date."""
    s = tender(on=date(2026, 9, 21))
    s.do("prepare_announcement", ANNOUNCE)  # issued 2026-09-21, deadline 2026-10-12 (21 days)
    s.do("publish_announcement", {"notice_number": "SZ-2026-002", "published_on": "2026-09-21", "sale_days": 5})
    # Monday 2026-09-28 is day -14: 15 days later is Tuesday 2026-10-13, a working day; 22 days after issue.
    s.do(
        "clarifications", {"clarifications_issued": 2, "last_clarification_on": "2026-09-28", "objections_received": 0}
    )
    opening = s.step("bid_opening")
    assert opening.input_data["bid_deadline"] == "2026-10-13" and opening.input_data["deadline_moved"] is True
    assert opening.input_data["original_bid_deadline"] == "2026-10-12"


def test_a_moved_deadline_that_falls_on_a_holiday_rolls_forward(tender):
    s = tender(on=date(2026, 9, 10))
    s.do("prepare_announcement", {"tender_method": "open", "issued_on": "2026-09-10", "bid_deadline": "2026-09-30"})
    s.do("publish_announcement", {"notice_number": "SZ-2026-003", "published_on": "2026-09-10", "sale_days": 5})
    # Clarified Thursday 2026-09-17 (13 days before): 15 days later is 2026-10-02, in the National Day
    # holiday (Oct 1-7), so the deadline is Thursday 2026-10-08 (民法典 203).
    s.do(
        "clarifications", {"clarifications_issued": 1, "last_clarification_on": "2026-09-17", "objections_received": 0}
    )
    assert s.step("bid_opening").input_data["bid_deadline"] == "2026-10-08"


def test_an_objection_answered_on_day_4_escalates_and_suspends_the_deadline(tender, database):
    """实施条例 art. 22: an objection to the documents is answered within 3 days (the step's 3 CD), the
    procedure suspended meanwhile: answered on day 4, the step was escalated like any overdue step,
    and the deadline moves by the 4 days it was suspended."""
    s = tender(on=date(2026, 9, 21))
    s.do("prepare_announcement", ANNOUNCE)
    s.do("publish_announcement", {"notice_number": "SZ-2026-004", "published_on": "2026-09-21", "sale_days": 5})
    s.do(
        "clarifications",
        {"clarifications_issued": 0, "objections_received": 1},
        on=date(2026, 9, 25),
    )
    answer = s.step("answer_document_objection")
    # Received Friday 2026-09-25: 3 days later is Monday 2026-09-28.
    assert (answer.agency_code, answer.due_at) == ("PWB", end_of(date(2026, 9, 28)))
    from approvals.services import escalation

    with time_machine.travel(morning(date(2026, 9, 29)), tick=False):
        assert escalation.escalate_overdue(database) == 1
    with database.session() as session:
        from approvals.models import Task

        (reminder,) = session.query(Task).filter(Task.reminder_for_id == answer.id).all()
        assert reminder.kind == "reminder" and reminder.agency_code == "PWB"
    s.do(
        "answer_document_objection",
        {"objection_on": "2026-09-25", "answered_on": "2026-09-29", "answer": "招标文件无误"},
        on=date(2026, 9, 29),
    )
    # Suspended from Sep 25 to Sep 29 (4 days): 2026-10-12 + 4 = Friday 2026-10-16.
    assert s.step("bid_opening").input_data["bid_deadline"] == "2026-10-16"


def test_the_trading_centres_system_reports_the_bid_opening_by_message(tender):
    """Issue 16, 4: the opening's result arrives from the trading centre's system, checked against
    the 开标 form as if staff had filled it; too few bids means a re-tender, as from the form."""
    s = tender(on=date(2026, 10, 12))
    to_opening(s)
    assert s.open_steps() == [("bid_opening", "TRADING")]
    with pytest.raises(InvalidInput) as refused:
        s.message("bid_opening_result", {"opened_on": "2026-10-12", "bids_received": -1}, sender="TRADING")
    assert list(refused.value.errors["data"]) == ["bids_received"]
    with pytest.raises(Forbidden):  # the bidding documents are the trading centre's, not the owner's
        s.message("bid_opening_result", OPENED, sender="PWB")
    with pytest.raises(NotFound):  # no objection period is running yet
        s.message("candidate_objection", {"objector": "丁公司"}, sender="TRADING")
    assert s.open_steps() == [("bid_opening", "TRADING")]
    s.message("bid_opening_result", {"opened_on": "2026-10-12", "bids_received": 2}, sender="TRADING")
    assert s.open_steps() == [("record_retender", "PWB")]
    with s.database.session() as session:
        opening = session.query(Task).filter_by(instance_id=s.instance_id, bpmn_id="bid_opening").one()
        assert opening.state == TaskState.CANCELLED
    s.do("record_retender", {"reason": "投标人不足三家"})
    to_opening(s)
    s.message("bid_opening_result", OPENED, sender="TRADING")
    assert s.open_steps() == [("evaluation", "EXPERTS")]


def test_an_objection_in_the_publicity_period_arrives_by_message_and_is_answered_at_once(tender):
    """Issue 16, 4: 实施条例 art. 54 — an objection to the candidates during the publicity is
    answered within 3 days of receipt; rejected, the publicity runs on to its end, which may bring
    another; the award notice goes out only after the period."""
    s = tender(on=date(2026, 10, 12))
    through_opening(s)
    s.do("evaluation", EVALUATED)
    s.do("award_decision", AWARD)
    s.do("publicity", {"publicity_start": "2026-10-13", "publicity_days": 3})
    objection = {"objector": "丁公司", "received_on": "2026-10-14", "summary": "第一中标候选人业绩造假"}
    with pytest.raises(InvalidInput) as refused:
        s.message("candidate_objection", {**objection, "summary": ""}, sender="TRADING", on=date(2026, 10, 14))
    assert list(refused.value.errors["data"]) == ["summary"]
    s.message("candidate_objection", objection, sender="TRADING", on=date(2026, 10, 14))
    answer = s.step("answer_objection")
    assert answer.agency_code == "PWB" and answer.due_at == end_of(
        date(2026, 10, 19)
    )  # 3 days: Saturday 17th, rolled to Monday
    s.do("answer_objection", {"objection_upheld": False, "answer": "经核查业绩属实"}, on=date(2026, 10, 15))
    assert s.open_steps() == []  # the period runs to the end of Friday 2026-10-16
    s.message(
        "candidate_objection", {**objection, "received_on": "2026-10-16"}, sender="TRADING", on=date(2026, 10, 16)
    )
    s.do("answer_objection", {"objection_upheld": False, "answer": "同前答复"}, on=date(2026, 10, 16))
    assert s.open_steps() == [] and s.fire_timers(date(2026, 10, 17)) == 1
    s.do("record_objections", {"objection_received": False})
    assert s.open_steps() == [("award_notice", "PWB")]
