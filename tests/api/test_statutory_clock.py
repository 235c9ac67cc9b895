"""The statutory clock over a stage: parallel steps counted once, clock-stopped steps not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import SUBMISSION, post_files, submitted_sample

SAMPLE = (BPMN_DIR / "sample_review.bpmn").read_text()
# The water opinion becomes an expert evaluation: it has a limit but stops the agencies' clock.
WITH_EXPERTS = SAMPLE.replace(
    '<spiffworkflow:property name="time_limit" value="15WD" />',
    '<spiffworkflow:property name="time_limit" value="15WD" />\n'
    '          <spiffworkflow:property name="clock" value="stopped" />',
)


def at(day: int, month: int = 9):
    """10:00 in Shenzhen on that day of 2026."""
    return time_machine.travel(datetime(2026, month, day, 2, 0, tzinfo=UTC), tick=False)


def do(client, people, user, bpmn_id, data):
    task = next(t for t in client.get("/api/tasks", headers=people.auth(user)).json["items"] if t["bpmn_id"] == bpmn_id)
    response = client.post(f"/api/tasks/{task['id']}/complete", json={"data": data}, headers=people.auth(user))
    assert response.status_code == 200, response.json


def test_counted_days_per_agency_and_for_the_project(client, people):
    forms = read_forms(BPMN_DIR / "sample_review.bpmn")
    assert (
        post_files(
            client,
            people,
            "owner",
            [("bpmn", "m.bpmn", WITH_EXPERTS.encode())] + [("forms", n, b) for n, b in forms.items()],
        ).status_code
        == 201
    )
    with at(21):
        client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
        client.post("/api/projects/P-1/instances", json={"process_key": "sample_review"}, headers=people.auth("hq"))
        do(client, people, "hq", "submit", SUBMISSION)
    with at(30):
        do(client, people, "pnr", "review_planning", {"opinion": "agree"})  # Sep 22-24, 28-30: 6 WD
    with at(9, 10):
        do(client, people, "water", "review_water", {"opinion": "agree"})  # experts: the clock was stopped
    with at(14, 10):
        do(client, people, "drc", "decide", {"decision": "approve", "approval_number": "1"})  # Oct 10, 12-14: 4 WD
        status = client.get("/api/projects/P-1/status", headers=people.auth("observer")).json

    (instance,) = status["instances"]
    statutory = [c for c in instance["agencies"] if c["statutory"]]
    assert statutory == [
        {"agency": "DRC", "counted_workdays": 4, "limit_workdays": 20, "overdue": False, "statutory": True},
        {"agency": "PNR", "counted_workdays": 6, "limit_workdays": 20, "overdue": False, "statutory": True},
    ]
    # Every agency involved has a clock: the applicant's and the experts' (clock stopped) days held.
    held = {c["agency"]: c["counted_workdays"] for c in instance["agencies"] if not c["statutory"]}
    assert held == {"HQ": 0, "WATER": 8}
    steps = {t["bpmn_id"]: t for t in instance["completed_tasks"]}
    assert steps["review_water"]["statutory"] is False and steps["review_water"]["counted_workdays"] == 8
    assert steps["review_planning"]["elapsed_days"] == 9 and steps["review_planning"]["completed_by"] == "pnr"
    assert status["project"]["counted_workdays"] == 10
    assert status["project"]["commitment_workdays"] == 85 and status["project"]["within_commitment"] is True


def test_an_invalid_clock_value_is_refused(client, people):
    bad = WITH_EXPERTS.replace('value="stopped"', 'value="paused"')
    response = post_files(client, people, "owner", [("bpmn", "m.bpmn", bad.encode())])
    assert response.status_code == 422
    assert any(p["element"] == "review_water" and "clock" in p["message"] for p in response.json["errors"]["bpmn"])


# 10:00 in Shenzhen on Monday 2026-09-21.
MONDAY_MORNING = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)


def test_open_steps_count_live_and_go_overdue(client, people, sample):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        submitted_sample(client, people)
    with time_machine.travel(datetime(2026, 10, 12, 3, 0, tzinfo=UTC), tick=False):
        (planning,) = client.get("/api/tasks", headers=people.auth("pnr")).json["items"]
        assert planning["counted_workdays"] == 10 and planning["overdue"] is False  # + Oct 10 (Sat, worked), Oct 12
    with time_machine.travel(datetime(2026, 10, 27, 1, 0, tzinfo=UTC), tick=False):
        late = client.get("/api/tasks?overdue=true", headers=people.auth("pnr")).json["items"]
        assert [t["bpmn_id"] for t in late] == ["review_planning"] and late[0]["overdue"] is True
        status = client.get("/api/projects/P-1/status", headers=people.auth("observer")).json
        assert status["project"]["overdue_tasks"] == 2  # planning (20 WD) and water (15 WD)
