"""可行性研究报告审批: every path through the model, with agencies, due dates and the statutory clock."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import BPMN_DIR, publish_file
from tests.scenarios.driver import Scenario, end_of

PREPARED = {
    "proposal_approval_number": "深发改〔2025〕88号",
    "construction_scale": "总建筑面积约12万平方米",
    "estimated_investment": 350000,
    "funding_source": "municipal_budget",
}
SUBMITTED = {"submitted_on": "2026-09-21"}
APPROVED = {
    "decision": "approve",
    "approval_number": "深发改〔2026〕512号",
    "approved_investment": 348000,
    "tender_scope": "勘察、设计、施工、监理",
    "tender_method": "open",
    "tender_organisation": "agent",
}


@pytest.fixture
def feasibility(database):
    publish_file(database, "feasibility_review.bpmn")
    assert (BPMN_DIR / "feasibility_review.bpmn").exists()

    def start(**kwargs) -> Scenario:
        scenario = Scenario(database, "feasibility_review", **kwargs)
        scenario.do("prepare_report", PREPARED)
        scenario.do("check_prerequisites", {"site_book_status": "in_progress"})
        return scenario

    return start


def test_straight_approval_without_evaluation(feasibility):
    s = feasibility()
    assert s.open_steps() == [("submit_report", "HQ")]
    s.do("submit_report", SUBMITTED, on=date(2026, 9, 21))
    assert s.open_steps() == [("acceptance_check", "DRC")]
    # 5 working days after Monday 2026-09-21, across the Sep 25-27 break: Tuesday 2026-09-29.
    assert s.step("acceptance_check").due_at == end_of(date(2026, 9, 29))
    s.do(
        "acceptance_check",
        {"acceptance_decision": "accept", "acceptance_number": "受理〔2026〕1号"},
        on=date(2026, 9, 21),
    )
    s.do("assess_need", {"evaluation_needed": False})
    # The decision opens on 2026-09-21: 20 working days later is 2026-10-26 (National Day and Oct 10 worked).
    decide = s.step("decide")
    assert (decide.agency_code, decide.due_at, decide.limit_workdays) == ("DRC", end_of(date(2026, 10, 26)), 20)
    s.do("decide", APPROVED, on=date(2026, 10, 26))
    assert s.status() == "completed" and s.result() == "可研已批复"
    finished = {t.bpmn_id: t for t in s.finished()}
    assert finished["decide"].counted_workdays == 20 and finished["decide"].outcome == "approve"
    assert finished["decide"].completed_at <= finished["decide"].due_at


def test_decision_sent_back_to_the_submission_resumes_the_drc_clock(feasibility):
    s = feasibility()
    s.do("submit_report", SUBMITTED, on=date(2026, 9, 21))
    s.do("acceptance_check", {"acceptance_decision": "accept", "acceptance_number": "受理〔2026〕1号"})
    s.do("assess_need", {"evaluation_needed": False})
    # Thursday: DRC finds the report's figures inconsistent and sends it back to HQ's submission.
    s.send_back("decide", "submit_report", on=date(2026, 9, 24))
    assert s.open_steps() == [("submit_report", "HQ")]
    s.do("submit_report", SUBMITTED, on=date(2026, 10, 12))
    s.do("acceptance_check", {"acceptance_decision": "accept", "acceptance_number": "受理〔2026〕2号"})
    s.do("assess_need", {"evaluation_needed": False})
    decide = s.step("decide")
    # 3 of the 20 working days were used before the send back: 17 remain from Monday 2026-10-12.
    assert (decide.limit_workdays, decide.due_at) == (17, end_of(date(2026, 11, 4)))
    s.do("decide", APPROVED, on=date(2026, 10, 14))
    assert s.status() == "completed" and s.result() == "可研已批复"
    runs = [(t.outcome, t.counted_workdays) for t in s.finished() if t.bpmn_id == "decide"]
    assert runs == [("sent_back", 3), ("approve", 2)]


def test_district_projects_go_to_the_district_drc(feasibility):
    s = feasibility(funding_level="district")
    s.do("submit_report", SUBMITTED)
    assert s.open_steps() == [("acceptance_check", "DRC_DISTRICT")]


def test_missing_site_book_is_applied_for_in_parallel_first(database):
    publish_file(database, "feasibility_review.bpmn")
    s = Scenario(database, "feasibility_review")
    s.do("prepare_report", PREPARED)
    s.do("check_prerequisites", {"site_book_status": "not_started"})
    assert s.open_steps() == [("apply_site_book", "HQ")]
    s.do("apply_site_book")
    assert s.open_steps() == [("submit_report", "HQ")]


@pytest.mark.parametrize("rounds", [1, 2])
def test_correction_loop_stops_the_clock(feasibility, rounds):
    s = feasibility()
    s.do("submit_report", SUBMITTED)
    for _ in range(rounds):
        s.do("acceptance_check", {"acceptance_decision": "correct", "correction_items": "缺少用地预审意见"})
        correction = s.step("correct_materials")
        assert (correction.agency_code, correction.statutory) == ("HQ", False)
        s.do("correct_materials", {"corrections_made": "已补充"})
        assert s.open_steps() == [("acceptance_check", "DRC")]
    s.do("acceptance_check", {"acceptance_decision": "accept", "acceptance_number": "1"})
    assert s.open_steps() == [("assess_need", "DRC")]
    checks = [t for t in s.finished() if t.bpmn_id == "acceptance_check"]
    assert [t.outcome for t in checks] == ["correct"] * rounds + ["accept"]


def test_refusal_to_accept_ends_the_instance(feasibility):
    s = feasibility()
    s.do("submit_report", SUBMITTED)
    s.do("acceptance_check", {"acceptance_decision": "reject", "reason": "不属于本机关职权范围"})
    assert s.status() == "completed" and s.result() == "不予受理" and s.open_steps() == []


def test_refusal_after_review_needs_written_reasons(feasibility):
    from approvals.services.errors import InvalidInput

    s = feasibility()
    s.do("submit_report", SUBMITTED)
    s.do("acceptance_check", {"acceptance_decision": "accept", "acceptance_number": "1"})
    s.do("assess_need", {"evaluation_needed": False})
    with pytest.raises(InvalidInput) as refused:
        s.do("decide", {"decision": "refuse"})
    assert "reason" in refused.value.errors["data"]
    s.do("decide", {"decision": "refuse", "reason": "投资估算依据不足"})
    assert s.result() == "不予批准"


def test_expert_review_and_revision_with_the_clock_stopped(feasibility):
    s = feasibility()
    s.do("submit_report", SUBMITTED, on=date(2026, 9, 21))
    s.do("acceptance_check", {"acceptance_decision": "accept", "acceptance_number": "1"}, on=date(2026, 9, 22))
    s.do("assess_need", {"evaluation_needed": True}, on=date(2026, 9, 23))
    review = s.step("expert_review")
    assert (review.agency_code, review.statutory, review.limit_workdays) == ("EXPERTS", False, 30)
    s.do("expert_review", {"expert_conclusion": "revise", "opinions": "补充客流分析"}, on=date(2026, 10, 9))
    assert s.open_steps() == [("revise_report", "HQ")]
    s.do("revise_report", {"revision_summary": "已补充"}, on=date(2026, 10, 12))
    s.do("expert_review", {"expert_conclusion": "pass", "opinions": "同意"}, on=date(2026, 10, 16))
    s.do("decide", APPROVED, on=date(2026, 10, 20))
    assert s.result() == "可研已批复"
    drc = [t for t in s.finished() if t.agency_code == "DRC"]
    # DRC's own clock: acceptance 1 WD + assessment 1 WD + decision Oct 16 -> 20 (2 WD); experts not counted.
    assert sum(t.counted_workdays for t in drc if t.statutory) == 4
