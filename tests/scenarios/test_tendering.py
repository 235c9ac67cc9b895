"""招标投标 for one package: thresholds by decision table, re-tender, objections, contract deadlines."""

from __future__ import annotations

from datetime import date

import pytest

from approvals.services.errors import InvalidInput
from tests.conftest import BPMN_DIR, publish_file
from tests.scenarios.driver import Scenario, end_of

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


def through_opening(s: Scenario, bids: int = 5) -> None:
    s.do("prepare_announcement", ANNOUNCE)
    s.do("publish_announcement", {"notice_number": "SZ-2026-001", "published_on": "2026-09-21", "sale_days": 5})
    s.do("clarifications", {"clarifications_issued": 1, "objections_received": 0})
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
    s.do("publicity", {"publicity_start": "2026-10-13", "publicity_days": 3, "objection_received": True})
    objection = s.step("answer_objection")
    # Answered within 3 calendar days: 2026-10-15.
    assert objection.due_at == end_of(date(2026, 10, 15))
    s.do("answer_objection", {"objection_upheld": True, "answer": "评标存在错误，重新评审"})
    assert s.open_steps() == [("evaluation", "EXPERTS")]
    s.do("evaluation", EVALUATED)
    s.do("award_decision", AWARD)
    s.do("publicity", {"publicity_start": "2026-10-20", "publicity_days": 3, "objection_received": True})
    s.do("answer_objection", {"objection_upheld": False, "answer": "异议不成立"})
    s.do("award_notice", {"winner": "乙公司", "notice_on": "2026-10-23"}, on=date(2026, 10, 23))
    # The contract within 30 days: 2026-11-22 is a Sunday, so the period ends Monday 2026-11-23.
    assert s.step("sign_contract").due_at == end_of(date(2026, 11, 23))
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
    s.do("publicity", {"publicity_start": "2026-10-13", "publicity_days": 3, "objection_received": False})
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
