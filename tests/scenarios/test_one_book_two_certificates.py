"""一书两证: the site book, both permits with their 补正 loops, parallel opinions, the 110% budget check."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import publish_file
from tests.scenarios.driver import Scenario, end_of

ISSUE = {"permit_decision": "issue", "document_number": "深规划资源〔2026〕001号"}
AGREE = {"opinion": "agree"}


@pytest.fixture
def permits(database):
    publish_file(database, "one_book_two_certificates.bpmn")

    def start(**kwargs) -> Scenario:
        scenario = Scenario(database, "one_book_two_certificates", **kwargs)
        scenario.do("apply_site_book", {"site": "福田区", "land_area": 20000})
        return scenario

    return start


def to_budget(s: Scenario, approved=100000) -> None:
    """From the site book to the engineering permit, all issued without corrections."""
    s.do("site_book_decision", ISSUE)
    s.do("record_feasibility", {"feasibility_approval_number": "深发改〔2026〕512号", "approved_investment": approved})
    s.do("land_permit_decision", ISSUE)
    s.do("design_scheme", {"scheme_summary": "方案"})
    for step in ("traffic_opinion", "water_opinion", "fire_review"):
        s.do(step, AGREE)
    s.do("engineering_permit_decision", ISSUE)


def test_straight_through_with_parallel_opinions(permits):
    s = permits()
    assert s.open_steps() == [("site_book_decision", "PNR")]
    s.do("site_book_decision", ISSUE)
    s.do("record_feasibility", {"feasibility_approval_number": "1", "approved_investment": 100000})
    land = s.step("land_permit_decision")
    # The land-use planning permit has 8 working days: from 2026-09-21 that is 2026-10-09.
    assert (land.agency_code, land.due_at) == ("PNR", end_of(date(2026, 10, 9)))
    s.do("land_permit_decision", ISSUE)
    s.do("design_scheme", {"scheme_summary": "方案"})
    assert s.open_steps() == [("fire_review", "FIRE"), ("traffic_opinion", "TRANSPORT"), ("water_opinion", "WATER")]
    s.do("traffic_opinion", AGREE)
    s.do("fire_review", {"opinion": "agree_with_conditions", "comments": "疏散宽度复核"})
    assert s.open_steps() == [("water_opinion", "WATER")]  # the join waits for every opinion
    s.do("water_opinion", AGREE)
    assert s.open_steps() == [("engineering_permit_decision", "PNR")]
    s.do("engineering_permit_decision", ISSUE)
    s.do("budget_estimate", {"budget_estimate": 108000})  # within 110 %
    assert s.open_steps() == [("budget_review", "DRC")]
    s.do("budget_review", {"budget_decision": "approve", "approval_number": "2", "approved_budget": 108000})
    assert s.result() == "一书两证及概算完成"


def test_estimate_over_110_percent_sends_the_project_back(permits):
    s = permits()
    to_budget(s, approved=100000)
    s.do("budget_estimate", {"budget_estimate": 110001})
    assert s.status() == "completed" and s.result() == "概算超可研10%，重报可研"


def test_engineering_permit_correction_once_then_issued(permits):
    s = permits()
    s.do("site_book_decision", ISSUE)
    s.do("record_feasibility", {"feasibility_approval_number": "1", "approved_investment": 100000})
    s.do("land_permit_decision", ISSUE)
    s.do("design_scheme", {"scheme_summary": "方案"})
    for step in ("traffic_opinion", "water_opinion", "fire_review"):
        s.do(step, AGREE)
    s.do("engineering_permit_decision", {"permit_decision": "correct", "correction_items": "补充日照分析"})
    assert s.open_steps() == [("engineering_permit_correction", "HQ")]
    assert s.step("engineering_permit_correction").statutory is False
    s.do("engineering_permit_correction", {"corrections_made": "已补充"})
    assert s.open_steps() == [("engineering_permit_decision", "PNR")]
    s.do("engineering_permit_decision", ISSUE)
    assert s.open_steps() == [("budget_estimate", "HQ")]


def test_refused_site_book_ends_the_process(permits):
    s = permits()
    s.do("site_book_decision", {"permit_decision": "refuse", "reason": "不符合国土空间规划"})
    assert s.result() == "核发用地预审与选址意见书不予核发"


def test_district_budget_goes_to_the_district_drc(permits):
    s = permits(funding_level="district")
    to_budget(s)
    s.do("budget_estimate", {"budget_estimate": 90000})
    assert s.open_steps() == [("budget_review", "DRC_DISTRICT")]
