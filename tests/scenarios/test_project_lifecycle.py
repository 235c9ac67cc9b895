"""The whole project lifecycle for one demo project, driven through the REST API alone."""

from __future__ import annotations

from approvals.services import users
from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import post_files

ISSUE = {"permit_decision": "issue", "document_number": "证-001"}
AGREE = {"opinion": "agree"}
DONE = {"done_on": "2026-12-01"}
# What each step's agency fills in, by BPMN id.
ANSWERS = {
    "prepare_report": {"proposal_approval_number": "深发改〔2025〕88号", "construction_scale": "约12万平方米",
                       "estimated_investment": 350000, "funding_source": "municipal_budget"},
    "check_prerequisites": {"site_book_status": "in_progress"},
    "submit_report": {"submitted_on": "2026-09-21"},
    "acceptance_check": {"acceptance_decision": "accept", "acceptance_number": "受理-1"},
    "assess_need": {"evaluation_needed": False},
    "decide": {"decision": "approve", "approval_number": "深发改〔2026〕512号", "approved_investment": 348000,
               "tender_scope": "施工、监理", "tender_method": "open", "tender_organisation": "agent"},
    "apply_site_book": {"site": "福田区", "land_area": 20000},
    "site_book_decision": ISSUE, "land_permit_decision": ISSUE, "engineering_permit_decision": ISSUE,
    "record_feasibility": {"feasibility_approval_number": "深发改〔2026〕512号", "approved_investment": 348000},
    "design_scheme": {"scheme_summary": "方案"},
    "traffic_opinion": AGREE, "water_opinion": AGREE, "fire_review": AGREE,
    "budget_estimate": {"budget_estimate": 360000},
    "budget_review": {"budget_decision": "approve", "approval_number": "概算-1", "approved_budget": 360000},
    "prepare_announcement": {"tender_method": "open", "issued_on": "2026-10-01", "bid_deadline": "2026-10-30"},
    "publish_announcement": {"notice_number": "GG-1", "published_on": "2026-10-01", "sale_days": 5},
    "clarifications": {"clarifications_issued": 0, "objections_received": 0},
    "bid_opening": {"opened_on": "2026-10-30", "bids_received": 4},
    "evaluation": {"committee_size": 5, "expert_members": 4, "candidates": ["甲", "乙", "丙"]},
    "award_decision": {"award_rule": "first_ranked", "winner": "甲"},
    "publicity": {"publicity_start": "2026-11-02", "publicity_days": 3, "objection_received": False},
    "award_notice": {"winner": "甲", "notice_on": "2026-11-06"},
    "sign_contract": {"contract_number": "HT-1", "signed_on": "2026-11-20", "amount": 100000000},
    "contract_filing": {"filing_number": "BA-1"},
    "other_procurement": {"procurement_method": "direct", "supplier": "某围挡公司"},
    "land_handover": DONE, "site_leveling": DONE, "hoarding": DONE,
    "drainage_permit": ISSUE, "traffic_permit": ISSUE,
    "apply_construction_permit": {"contractor": "甲", "supervisor": "乙", "funding_confirmed": True,
                                  "drawings_ready": True, "safety_measures_ready": True},
    "construction_permit": ISSUE,
    "ceremony_decision": {"ceremony": "collective"},
    "record_start": {"started_on": "2027-01-15"},
}
PACKAGES = [{"name": "施工总承包", "type": "construction", "estimate": 500_000_000},
            {"name": "监理", "type": "supervision", "estimate": 6_000_000},
            {"name": "围挡", "type": "construction", "estimate": 800_000}]


def test_one_project_from_feasibility_to_groundbreaking(client, people, database):
    # Publish through the API, callees first, each with the forms it names.
    for name in ("tender_thresholds.dmn", "feasibility_review.bpmn", "one_book_two_certificates.bpmn",
                 "tendering.bpmn", "groundbreaking.bpmn", "project_lifecycle.bpmn"):
        path = BPMN_DIR / name
        upload = [("bpmn", name, path.read_bytes())] + [("forms", n, b) for n, b in read_forms(path).items()]
        response = post_files(client, people, "owner", upload)
        assert response.status_code == 201, (name, response.json)

    tokens = {}
    with database.session() as session:
        for code in ("HQ", "DRC", "PNR", "TRANSPORT", "WATER", "FIRE", "EXPERTS", "TRADING", "PWB", "HCB", "URB"):
            user = users.create_user(session, username=f"api_{code.lower()}", password="pw-12345",
                                     agency_code=code, role="staff")
            tokens[code] = {"Authorization": f"Bearer {users.issue_token(session, user, 1)[0]}"}

    assert client.post("/api/projects", json={"code": "SZ-FCC", "name": "深圳金融文化中心"},
                       headers=people.auth("hq")).status_code == 201
    started = client.post("/api/projects/SZ-FCC/instances",
                          json={"process_key": "project_lifecycle", "data": {"packages": PACKAGES}},
                          headers=people.auth("hq"))
    assert started.status_code == 201, started.json
    instance_id = started.json["id"]

    seen: list[tuple[str, str]] = []
    for _ in range(200):
        status = client.get("/api/projects/SZ-FCC/status", headers=people.auth("observer")).json
        (entry,) = status["instances"]
        open_steps = [t for t in entry["open_tasks"] if t["kind"] == "step"]
        if not open_steps:
            break
        for task in open_steps:
            response = client.post(f"/api/tasks/{task['id']}/complete", json={"data": ANSWERS[task["bpmn_id"]]},
                                   headers=tokens[task["agency"]])
            assert response.status_code == 200, (task["bpmn_id"], response.json)
            seen.append((task["bpmn_id"], task["agency"]))

    final = client.get(f"/api/instances/{instance_id}", headers=people.auth("observer")).json
    assert final["status"] == "completed", final
    assert final["result"] == "项目已完成开工前审批"
    # Every stage ran at the agencies DOMAIN.md names; two packages reached the tender threshold.
    assert ("decide", "DRC") in seen and ("engineering_permit_decision", "PNR") in seen
    assert ("fire_review", "FIRE") in seen and ("construction_permit", "HCB") in seen
    assert sum(1 for step in seen if step == ("bid_opening", "TRADING")) == 2
    assert sum(1 for step in seen if step == ("contract_filing", "HCB")) == 2
    assert seen.count(("other_procurement", "PWB")) == 1  # the hoarding package is below the threshold
    assert status["project"]["counted_workdays"] >= 0 and status["project"]["commitment_workdays"] == 85
