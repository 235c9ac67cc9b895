"""The whole project lifecycle for one demo project, driven through the REST API alone."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import time_machine
from click.testing import CliRunner

from approvals.cli import main
from approvals.demo import ANSWERS, sample_pdf
from approvals.services import timers, users
from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import post_files
from tests.scenarios.driver import morning

PACKAGES = [
    {"name": "施工总承包", "type": "construction", "estimate": 500_000_000},
    {"name": "监理", "type": "supervision", "estimate": 6_000_000},
    {"name": "围挡", "type": "construction", "estimate": 800_000},
]


def test_one_project_from_feasibility_to_groundbreaking(client, people, database, database_url, app):
    # Publish through the API, callees first, each with the forms it names.
    for name in (
        "tender_thresholds.dmn",
        "feasibility_review.bpmn",
        "one_book_two_certificates.bpmn",
        "tendering.bpmn",
        "groundbreaking.bpmn",
        "project_lifecycle.bpmn",
    ):
        path = BPMN_DIR / name
        upload = [("bpmn", name, path.read_bytes())] + [("forms", n, b) for n, b in read_forms(path).items()]
        response = post_files(client, people, "owner", upload)
        assert response.status_code == 201, (name, response.json)

    tokens = {}
    with database.session() as session:
        for code in ("HQ", "DRC", "PNR", "TRANSPORT", "WATER", "FIRE", "EXPERTS", "TRADING", "PWB", "HCB", "URB"):
            user = users.create_user(
                session, username=f"api_{code.lower()}", password="pw-12345", agency_code=code, role="staff"
            )
            tokens[code] = {"Authorization": f"Bearer {users.issue_token(session, user, 1)[0]}"}

    assert (
        client.post(
            "/api/projects", json={"code": "SZ-FCC", "name": "深圳金融文化中心"}, headers=people.auth("hq")
        ).status_code
        == 201
    )
    started = client.post(
        "/api/projects/SZ-FCC/instances",
        json={"process_key": "project_lifecycle", "data": {"packages": PACKAGES}},
        headers=people.auth("hq"),
    )
    assert started.status_code == 201, started.json
    instance_id = started.json["id"]

    seen: list[tuple[str, str]] = []
    stages_seen: set[str] = set()
    day = date(2026, 9, 21)
    for _ in range(200):
        # Each round of answers is given one calendar day after the one before, so the clocks count.
        day += timedelta(days=1)
        travel = time_machine.travel(morning(day), tick=False)
        travel.start()
        timers.run_due(database)  # the worker's pass: the candidates' publicity ends by its timer
        status = client.get("/api/projects/SZ-FCC/status", headers=people.auth("observer")).json
        (entry,) = status["instances"]
        open_steps = [t for t in entry["open_tasks"] if t["kind"] == "step"]
        if not open_steps:
            if entry["status"] != "running":
                break
            travel.stop()
            continue  # waiting on a timer only: a day later
        assert entry["stages"] == sorted({t["stage"] for t in open_steps})
        stages_seen.update(entry["stages"])
        for task in open_steps:
            attach_documents(client, task["id"], tokens[task["agency"]])
            response = client.post(
                f"/api/tasks/{task['id']}/complete",
                json={"data": ANSWERS[task["bpmn_id"]]},
                headers=tokens[task["agency"]],
            )
            assert response.status_code == 200, (task["bpmn_id"], response.json)
            seen.append((task["bpmn_id"], task["agency"]))
        travel.stop()
    travel.stop()

    final = client.get(f"/api/instances/{instance_id}", headers=people.auth("observer")).json
    assert final["status"] == "completed", final
    assert final["result"] == "项目已完成开工前审批"
    # Every stage ran at the agencies DOMAIN.md names; two packages reached the tender threshold.
    assert ("decide", "DRC") in seen and ("engineering_permit_decision", "PNR") in seen
    assert ("fire_review", "FIRE") in seen and ("construction_permit", "HCB") in seen
    assert sum(1 for step in seen if step == ("bid_opening", "TRADING")) == 2
    assert sum(1 for step in seen if step == ("contract_filing", "HCB")) == 2
    assert seen.count(("other_procurement", "PWB")) == 1  # the hoarding package is below the threshold
    assert stages_seen == {"可行性研究报告审批", "一书两证", "招标投标（标段）", "开工准备"}
    assert status["project"]["commitment_workdays"] == 85
    # Against the commitment, only the approval legs count; tendering and the applicant's own
    # steps are shown beside it. The API, the CLI and the page give the same figure.
    commitment = client.get("/api/projects/SZ-FCC/status", headers=people.auth("observer")).json["commitment"]
    legs = {leg["stage"]: leg for leg in commitment["legs"]}
    assert set(legs) == {"可行性研究报告审批", "一书两证", "招标投标（标段）", "开工准备"}
    assert [stage for stage, leg in legs.items() if not leg["counts"]] == ["招标投标（标段）"]
    assert legs["招标投标（标段）"]["counted_workdays"] > 0 and commitment["waiting_on_applicant_workdays"] > 0
    approvals = [leg["counted_workdays"] for leg in legs.values() if leg["counts"]]
    assert max(approvals) <= commitment["counted_workdays"] <= sum(approvals)
    figure = commitment["counted_workdays"]
    assert (
        client.get("/api/projects/SZ-FCC/status", headers=people.auth("observer")).json["project"]["counted_workdays"]
        == figure
    )
    cli = CliRunner().invoke(main, ["--database-url", database_url, "status", "SZ-FCC"], catch_exceptions=False)
    assert f"{figure} of 85 committed working days used" in cli.output
    assert f"waiting on the applicant: {commitment['waiting_on_applicant_workdays']} working days" in cli.output
    assert "招标投标（标段）" in cli.output and "(not counted)" in cli.output
    from tests.web.test_pages import signed_in

    page = signed_in(app, "observer").get("/projects/SZ-FCC").get_data(as_text=True)
    assert re.search(rf'data-testid="counted">{figure}<', page)
    # The documents the steps asked for are on the project, the issued ones with their numbers.
    files = client.get("/api/projects/SZ-FCC/materials", headers=people.auth("observer")).json
    assert {f["field"] for f in files} == {"report", "attachments", "approval_document", "permit_document"}
    (approval,) = [f for f in files if f["field"] == "approval_document"]
    assert approval["document_number"] == "深发改〔2026〕512号" and approval["kind"] == "pdf"


def attach_documents(client, task_id, headers):
    """Upload a PDF for every material field of the step's form, as its agency's staff would."""
    detail = client.get(f"/api/tasks/{task_id}", headers=headers).json
    for name, prop in ((detail["form_schema"] or {}).get("properties") or {}).items():
        if "x-material" in prop:
            upload = {
                "file": (io.BytesIO(sample_pdf(name)), f"{name}.pdf"),
                "field": name,
                "document_number": ANSWERS[detail["bpmn_id"]].get("approval_number", ""),
            }
            response = client.post(f"/api/tasks/{task_id}/materials", data=upload, headers=headers)
            assert response.status_code == 201, response.json
