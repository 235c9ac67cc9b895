"""Sending back (退回): from the DRC decision to the HQ submission and forward again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine

from approvals.models import ProcessInstance
from approvals.services import definitions
from approvals.workdays import WorkCalendar
from tests.helpers import APPROVAL, SUBMISSION, complete, create_project, open_task, start_sample

DATA = Path(__file__).parent.parent / "data"


def on(month: int, day: int):
    """10:00 in Shenzhen on that day of 2026, with the clock held still."""
    return time_machine.travel(datetime(2026, month, day, 2, 0, tzinfo=UTC), tick=False)


def send_back(client, people, user, task_id, to, reason="材料不全，退回补充"):
    return client.post(
        f"/api/tasks/{task_id}/send-back", json={"to_bpmn_id": to, "reason": reason}, headers=people.auth(user)
    )


def reviews_done(client, people, instance_id):
    for user, step in (("pnr", "review_planning"), ("water", "review_water")):
        task = open_task(client, people, user, step, instance_id)
        assert complete(client, people, user, task["id"], {"opinion": "agree"}).status_code == 200


@pytest.fixture
def decision(client, people, sample):
    """The DRC decision open since Monday 2026-09-21."""
    create_project(client, people)
    with on(9, 21):
        instance = start_sample(client, people)
        assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
        reviews_done(client, people, instance["id"])
        return open_task(client, people, "drc", "decide", instance["id"])


def test_send_back_and_forward_again_keeps_the_clock(client, people, decision):
    instance_id = decision["instance_id"]
    with on(9, 24):  # Thursday: three working days with DRC
        sent = send_back(client, people, "drc", decision["id"], "submit")
    assert sent.status_code == 200, sent.json
    assert [(t["bpmn_id"], t["agency"]) for t in sent.json["open_tasks"]] == [("submit", "HQ")]

    history = client.get(f"/api/instances/{instance_id}/events", headers=people.auth("observer")).json
    (event,) = [e for e in history if e["type"] == "task.sent_back"]
    assert event["actor"] == "drc"
    assert {k: event["payload"][k] for k in ("bpmn_id", "to_bpmn_id", "to_name", "reason")} == {
        "bpmn_id": "decide",
        "to_bpmn_id": "submit",
        "to_name": "提交申请材料",
        "reason": "材料不全，退回补充",
    }
    old = client.get(f"/api/tasks/{decision['id']}", headers=people.auth("drc")).json
    assert (old["state"], old["outcome"], old["opinion"]) == ("completed", "sent_back", "材料不全，退回补充")
    assert (old["counted_workdays"], old["limit_workdays"]) == (3, 3)

    # While the file is back with HQ (through the Mid-Autumn rest days), DRC's clock stands still.
    with on(9, 28):
        resubmit = open_task(client, people, "hq", "submit", instance_id)
        assert complete(client, people, "hq", resubmit["id"], SUBMISSION).status_code == 200
        reviews_done(client, people, instance_id)
        again = open_task(client, people, "drc", "decide", instance_id)
    assert again["limit_workdays"] == 17  # what was left of the 20 working days
    resumed, afresh = (WorkCalendar().add_workdays(date(2026, 9, 28), n).end_of_day_utc() for n in (17, 20))
    assert datetime.fromisoformat(again["due_at"]) == resumed != afresh
    with on(10, 9):  # Friday after the National Day holiday: 29, 30 Sep, 8, 9 Oct
        assert complete(client, people, "drc", again["id"], APPROVAL).status_code == 200

    status = client.get("/api/projects/P-001/status", headers=people.auth("observer")).json
    (entry,) = status["instances"]
    assert entry["status"] == "completed"
    drc = next(c for c in entry["agencies"] if c["agency"] == "DRC")
    assert (drc["counted_workdays"], drc["limit_workdays"], drc["overdue"]) == (7, 20, False)
    timeline = [(t["bpmn_id"], t["outcome"]) for t in entry["completed_tasks"]]
    assert timeline.count(("decide", "sent_back")) == 1 and timeline[-1] == ("decide", "approve")
    assert timeline.count(("submit", None)) == 2


def test_send_back_needs_a_reason_and_an_earlier_step(client, people, decision, database):
    tid = decision["id"]
    with database.session() as session:
        before = session.get(ProcessInstance, decision["instance_id"]).lock_version
    no_reason = send_back(client, people, "drc", tid, "submit", reason="  ")
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]["json"]
    missing = client.post(f"/api/tasks/{tid}/send-back", json={"to_bpmn_id": "submit"}, headers=people.auth("drc"))
    assert missing.status_code == 422 and "reason" in missing.json["errors"]["json"]
    for target in ("decide", "gw_split", "nowhere"):  # itself, not a human step, unknown
        refused = send_back(client, people, "drc", tid, target)
        assert refused.status_code == 422 and "to_bpmn_id" in refused.json["errors"]["json"], target
    assert send_back(client, people, "pnr", tid, "submit").status_code == 403  # not PNR's step
    assert send_back(client, people, "observer", tid, "submit").status_code == 403
    with database.session() as session:
        assert session.get(ProcessInstance, decision["instance_id"]).lock_version == before
    assert open_task(client, people, "drc", "decide")["id"] == tid


def test_a_parallel_branch_is_not_on_the_path_of_its_sibling(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
    water = open_task(client, people, "water", "review_water")
    assert complete(client, people, "water", water["id"], {"opinion": "agree"}).status_code == 200
    planning = open_task(client, people, "pnr", "review_planning")
    refused = send_back(client, people, "pnr", planning["id"], "review_water")
    assert refused.status_code == 422 and "not on the path" in refused.json["message"]
    # Back to the submission: the sibling branch's finished work is dropped with it.
    sent = send_back(client, people, "pnr", planning["id"], "submit")
    assert [t["bpmn_id"] for t in sent.json["open_tasks"]] == ["submit"]


def test_sending_back_drops_the_timers_of_the_steps_it_leaves(client, people, database):
    with database.session() as session:
        definitions.publish(session, (DATA / "review_deadline.bpmn").read_bytes(), {}, None)
    create_project(client, people)
    started = client.post(
        "/api/projects/P-001/instances", json={"process_key": "review_deadline"}, headers=people.auth("hq")
    ).json
    assert complete(client, people, "hq", started["open_tasks"][0]["id"], {}).status_code == 200
    with database.session() as session:
        assert session.get(ProcessInstance, started["id"]).next_timer_at is not None  # the review's 3-day timer
    review = open_task(client, people, "drc", "review")
    assert send_back(client, people, "drc", review["id"], "submit").status_code == 200
    with database.session() as session:
        # Without a save and reload, SpiffWorkflow would still list the dropped review's timer.
        assert session.get(ProcessInstance, started["id"]).next_timer_at is None


def resubmitted(client, people, instance_id):
    """HQ resubmits, both reviews agree: the decision open again, as DRC sees it."""
    resubmit = open_task(client, people, "hq", "submit", instance_id)
    assert complete(client, people, "hq", resubmit["id"], SUBMISSION).status_code == 200
    reviews_done(client, people, instance_id)
    return open_task(client, people, "drc", "decide", instance_id)


def test_a_run_that_finished_normally_leaves_no_time_owed_to_the_next(client, people, decision):
    """Sent back on day 3 (3 days used), decided normally next time (退回补正: the run ends), then
    the new run is sent back on its day 2: the run after that resumes with 18 days — the first
    run's 3 days belong to a finished run and are not taken again."""
    instance_id = decision["instance_id"]
    with on(9, 24):
        assert send_back(client, people, "drc", decision["id"], "submit").status_code == 200
    with on(9, 28):
        second = resubmitted(client, people, instance_id)
        assert second["limit_workdays"] == 17
        returned = {"decision": "return", "reason": "请补充节能评估"}
        assert complete(client, people, "drc", second["id"], returned, opinion="材料仍不齐").status_code == 200
    with on(10, 12):
        third = resubmitted(client, people, instance_id)
        assert third["limit_workdays"] == 20  # a fresh run after one that finished
    with on(10, 14):  # two working days later
        assert send_back(client, people, "drc", third["id"], "submit").status_code == 200
    with on(10, 15):
        fourth = resubmitted(client, people, instance_id)
    assert fourth["limit_workdays"] == 18
