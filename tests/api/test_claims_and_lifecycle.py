"""Claiming, releasing and assigning steps; suspending, resuming and terminating instances."""

from __future__ import annotations

import pytest

from tests.helpers import complete, create_project, open_review, start_sample


@pytest.fixture
def planning(client, people, sample):
    """An open PNR review step."""
    return open_review(client, people)


def post(client, people, user, path, body=None):
    return client.post(path, json=body, headers=people.auth(user))


def test_claimed_step_is_taken_for_colleagues(client, people, planning):
    tid = planning["id"]
    assert post(client, people, "pnr", f"/api/tasks/{tid}/claim").json["assignee"] == "pnr"
    assert post(client, people, "pnr", f"/api/tasks/{tid}/claim").status_code == 200  # claiming again is a no-op
    taken = post(client, people, "pnr2", f"/api/tasks/{tid}/claim")
    assert taken.status_code == 409 and "pnr" in taken.json["message"]
    assert complete(client, people, "pnr2", tid, {"opinion": "agree"}).status_code == 409
    mine = client.get("/api/tasks?assignee=me", headers=people.auth("pnr")).json
    assert [t["id"] for t in mine["items"]] == [tid]
    assert client.get("/api/tasks?assignee=me", headers=people.auth("pnr2")).json["total"] == 0


def test_release_lets_a_colleague_take_it(client, people, planning):
    tid = planning["id"]
    post(client, people, "pnr", f"/api/tasks/{tid}/claim")
    assert post(client, people, "pnr2", f"/api/tasks/{tid}/unclaim").status_code == 403
    released = post(client, people, "pnr", f"/api/tasks/{tid}/unclaim")
    assert released.status_code == 200 and released.json["assignee"] is None and released.json["state"] == "open"
    assert post(client, people, "pnr", f"/api/tasks/{tid}/unclaim").status_code == 409
    assert post(client, people, "pnr2", f"/api/tasks/{tid}/claim").json["assignee"] == "pnr2"
    assert complete(client, people, "pnr2", tid, {"opinion": "agree"}).status_code == 200


def test_leads_assign_within_their_agency(client, people, planning):
    tid = planning["id"]
    assert post(client, people, "pnr", f"/api/tasks/{tid}/assign", {"username": "pnr2"}).status_code == 403
    assert post(client, people, "drc_lead", f"/api/tasks/{tid}/assign", {"username": "pnr2"}).status_code == 403
    outsider = post(client, people, "pnr_lead", f"/api/tasks/{tid}/assign", {"username": "drc"})
    assert outsider.status_code == 422 and "username" in outsider.json["errors"]["json"]
    unknown = post(client, people, "pnr_lead", f"/api/tasks/{tid}/assign", {"username": "ghost"})
    assert unknown.status_code == 422
    assigned = post(client, people, "pnr_lead", f"/api/tasks/{tid}/assign", {"username": "pnr2"})
    assert assigned.status_code == 200 and assigned.json["assignee"] == "pnr2"
    # The lead moves it on to another colleague; the trail says who gave it to whom.
    post(client, people, "pnr_lead", f"/api/tasks/{tid}/assign", {"username": "pnr"})
    trail = client.get(f"/api/instances/{planning['instance_id']}/events", headers=people.auth("admin")).json
    assert [(e["actor"], e["payload"]) for e in trail if e["type"] == "task.assigned"] == [
        ("pnr_lead", {"from": None, "to": "pnr2"}),
        ("pnr_lead", {"from": "pnr2", "to": "pnr"}),
    ]


def test_suspended_instance_takes_no_work_until_resumed(client, people, planning):
    iid, tid = planning["instance_id"], planning["id"]
    assert post(client, people, "hq", f"/api/instances/{iid}/suspend").status_code == 403  # staff may not
    suspended = post(client, people, "hq_lead", f"/api/instances/{iid}/suspend")
    assert suspended.status_code == 200 and suspended.json["status"] == "suspended"
    assert post(client, people, "hq_lead", f"/api/instances/{iid}/suspend").status_code == 409
    assert post(client, people, "pnr", f"/api/tasks/{tid}/claim").status_code == 409
    blocked = complete(client, people, "pnr", tid, {"opinion": "agree"})
    assert blocked.status_code == 409 and "suspended" in blocked.json["message"]
    assert post(client, people, "hq_lead", f"/api/instances/{iid}/resume").json["status"] == "running"
    assert complete(client, people, "pnr", tid, {"opinion": "agree"}).status_code == 200


def test_terminate_cancels_open_steps(client, people, planning):
    iid = planning["instance_id"]
    done = post(client, people, "admin", f"/api/instances/{iid}/terminate", {"reason": "项目取消"})
    assert done.status_code == 200 and done.json["status"] == "terminated" and done.json["open_tasks"] == []
    assert client.get("/api/tasks", headers=people.auth("pnr")).json["total"] == 0
    cancelled = client.get("/api/tasks?state=cancelled", headers=people.auth("pnr")).json["items"]
    assert [t["bpmn_id"] for t in cancelled] == ["review_planning"]
    assert complete(client, people, "pnr", planning["id"], {"opinion": "agree"}).status_code == 409
    assert post(client, people, "admin", f"/api/instances/{iid}/terminate").status_code == 409
    trail = client.get(f"/api/instances/{iid}/events", headers=people.auth("admin")).json
    assert trail[-1]["type"] == "instance.terminated" and trail[-1]["payload"] == {"reason": "项目取消"}


def test_inbox_filters_and_pages(client, people, sample):
    create_project(client, people)
    create_project(client, people, code="P-002")
    for code in ("P-001", "P-002", "P-002"):
        start_sample(client, people, code)
    everything = client.get("/api/tasks?page_size=2", headers=people.auth("hq")).json
    assert everything["total"] == 3 and len(everything["items"]) == 2
    second = client.get("/api/tasks?page_size=2&page=2", headers=people.auth("hq")).json
    assert len(second["items"]) == 1
    ids = {t["id"] for t in everything["items"]} | {t["id"] for t in second["items"]}
    assert len(ids) == 3
    only = client.get("/api/tasks?project=P-002", headers=people.auth("hq")).json
    assert only["total"] == 2 and {t["project"] for t in only["items"]} == {"P-002"}
    assert client.get("/api/tasks?overdue=true", headers=people.auth("hq")).json["total"] == 0
    assert client.get("/api/tasks?page_size=500", headers=people.auth("hq")).status_code == 422
    assert client.get("/api/tasks?state=bogus", headers=people.auth("hq")).status_code == 422
    # Admins and observers may read any agency's inbox.
    assert client.get("/api/tasks?agency=HQ", headers=people.auth("observer")).json["total"] == 3
