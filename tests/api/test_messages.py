"""Messages from outside, on both databases: the applicant's system resubmits the 补正 materials of a
feasibility review as a message by project code, with a service account's token; DRC's acceptance
check opens again. A repeat with the same Idempotency-Key changes nothing; a message nothing waits
for is 404, to a suspended instance 409, from another agency's system 403; the service token is good
for messages only."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from approvals.models import Event, ProcessInstance, Project, Task, TaskState, User
from approvals.services.errors import NotFound
from tests.conftest import publish_file
from tests.helpers import publish_variant
from tests.scenarios.driver import Scenario
from tests.scenarios.test_feasibility_review import PREPARED, SUBMITTED

RESUBMISSION = {"corrected_on": "2026-09-24", "note": "补齐了节能评估报告"}


@pytest.fixture
def waiting_for_correction(database, people):
    """A feasibility review of project S-1 whose acceptance check asked for a 补正."""
    publish_file(database, "feasibility_review.bpmn")
    s = Scenario(database, "feasibility_review")
    s.do("prepare_report", PREPARED)
    s.do("check_prerequisites", {"site_book_status": "in_progress"})
    s.do("submit_report", SUBMITTED, on=date(2026, 9, 21))
    s.do("acceptance_check", {"acceptance_decision": "correct", "correction_items": "补充节能评估"})
    assert s.open_steps() == [("correct_materials", "HQ")]
    return s


def service_token(client, people, username: str) -> dict[str, str]:
    made = client.post("/api/tokens/service", json={"username": username, "days": 30}, headers=people.auth("admin"))
    assert made.status_code == 201, made.json
    return {"Authorization": f"Bearer {made.json['token']}"}


def counts(database) -> tuple[int, int]:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Event)), session.scalar(
            select(func.count()).select_from(Task)
        )


def test_the_applicants_system_resubmits_by_message_and_the_check_opens_again(
    client, people, database, waiting_for_correction
):
    s = waiting_for_correction
    hq_system = {**service_token(client, people, "hq"), "Idempotency-Key": "resubmit-S-1-0001"}
    body = {"name": "resubmission", "project_code": "S-1", "data": RESUBMISSION}
    answer = client.post("/api/messages", json=body, headers=hq_system)
    assert answer.status_code == 200, answer.json
    assert [(t["bpmn_id"], t["agency"]) for t in answer.json["open_tasks"]] == [("acceptance_check", "DRC")]
    with database.session() as session:
        instance = session.get(ProcessInstance, s.instance_id)
        correction = next(t for t in instance.tasks if t.bpmn_id == "correct_materials")
        assert correction.state == TaskState.CANCELLED
        received = session.scalars(select(Event).where(Event.type == "message.received")).one()
        assert received.payload["name"] == "resubmission" and received.payload["elements"] == ["resubmitted"]
        assert received.actor_name == "hq"
    assert s.step("acceptance_check").agency_code == "DRC"
    # The same message again, with the same key: the same answer, nothing changed.
    before = counts(database)
    again = client.post("/api/messages", json=body, headers=hq_system)
    assert again.status_code == 200 and again.json == answer.json and counts(database) == before
    # Without the key it is a new message, and nothing waits for it any more.
    fresh = client.post("/api/messages", json=body, headers={"Authorization": hq_system["Authorization"]})
    assert fresh.status_code == 404 and "resubmission" in fresh.json["message"]


def test_messages_are_refused_when_nothing_waits_the_instance_is_stopped_or_the_sender_is_another_agency(
    client, people, database, waiting_for_correction
):
    s = waiting_for_correction
    hq_system = service_token(client, people, "hq")
    nothing = client.post("/api/messages", json={"name": "bids", "project_code": "S-1"}, headers=hq_system)
    assert nothing.status_code == 404
    drc_system = service_token(client, people, "drc")
    body = {"name": "resubmission", "instance_id": s.instance_id, "data": RESUBMISSION}
    assert client.post("/api/messages", json=body, headers=drc_system).status_code == 403
    assert (
        client.post(
            f"/api/instances/{s.instance_id}/suspend", json={"reason": "暂停"}, headers=people.auth("admin")
        ).status_code
        == 200
    )
    before = counts(database)
    assert client.post("/api/messages", json=body, headers=hq_system).status_code == 409
    assert counts(database) == before
    neither = client.post("/api/messages", json={"name": "resubmission"}, headers=hq_system)
    assert neither.status_code == 422


def test_a_service_token_is_good_for_messages_only_and_only_admins_make_one(client, people, waiting_for_correction):
    hq_system = service_token(client, people, "hq")
    assert client.get("/api/tasks", headers=hq_system).status_code == 401
    refused = client.post("/api/tokens/service", json={"username": "hq"}, headers=people.auth("hq_lead"))
    assert refused.status_code == 403
    unknown = client.post("/api/tokens/service", json={"username": "nobody"}, headers=people.auth("admin"))
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("decision", "correction", "message"),
    [
        ("site_book_decision", "site_book_correction", "site_book_resubmission"),
    ],
)
def test_each_permits_correction_takes_its_own_message(database, people, decision, correction, message):
    """Two corrections may wait at once in a project (the feasibility study's and a permit's): each
    has its own message name, so a resubmission reaches only the step it is for."""
    from approvals.services import messages
    from tests.factories import user

    publish_file(database, "one_book_two_certificates.bpmn")
    s = Scenario(database, "one_book_two_certificates")
    s.do("apply_site_book", {"site": "福田区", "land_area": 20000})
    s.do(decision, {"permit_decision": "correct", "correction_items": "补充红线图"})
    assert s.open_steps() == [(correction, "HQ")]
    with database.session() as session:
        hq = user(session, "hq")
        with pytest.raises(NotFound):  # the feasibility study's resubmission: nothing waits for it here
            messages.deliver(session, hq, name="resubmission", project_code="S-1")
        _instance, open_rows = messages.deliver(session, hq, name=message, project_code="S-1", data={"note": "已补充"})
        assert [t.bpmn_id for t in open_rows] == [decision]


CATCHERS = (Path(__file__).parent.parent / "data" / "message_catchers.bpmn").read_bytes()
REQUEST_FORM = json.dumps(
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["package", "estimate"],
        "properties": {
            "package": {"type": "string", "title": "标段", "minLength": 1},
            "estimate": {"type": "integer", "title": "估算", "minimum": 0},
        },
    }
).encode()


def instances_of(database, project_code: str) -> list[ProcessInstance]:
    with database.session() as session:
        return list(
            session.scalars(select(ProcessInstance).join(ProcessInstance.project).where(Project.code == project_code))
        )


def test_a_message_starts_an_instance_and_an_event_subprocess_and_a_receive_task_take_theirs(client, people, database):
    """Issue 16, 4: a message start event starts a new instance of its process for the project, its
    data checked against the form the start event names (refused: nothing is created); a message to
    an event subprocess runs it beside the main path; a receive task takes its message only once
    the path reached it."""
    published = publish_variant(client, people, CATCHERS, {"mc_request.schema.json": REQUEST_FORM})
    assert published.status_code == 201, published.json
    assert (
        client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq")).status_code == 201
    )
    hq_system = service_token(client, people, "hq")
    request = {"name": "tender_request", "project_code": "P-1", "data": {"package": "施工总承包"}}
    before = counts(database)
    refused = client.post("/api/messages", json=request, headers=hq_system)
    assert refused.status_code == 422, refused.json
    assert refused.json["errors"]["json"]["data"] == {"estimate": ["this field is required"]}, refused.json
    assert "mc_request.schema.json" in refused.json["message"]
    assert counts(database) == before and instances_of(database, "P-1") == []
    request["data"]["estimate"] = 4_000_000
    assert client.post("/api/messages", json=request, headers=service_token(client, people, "drc")).status_code == 403
    started = client.post("/api/messages", json=request, headers=hq_system)
    assert started.status_code == 200, started.json
    assert [(t["bpmn_id"], t["agency"]) for t in started.json["open_tasks"]] == [("review", "DRC")]
    [instance] = instances_of(database, "P-1")
    with database.session() as session:
        assert session.get(User, instance.started_by_id).username == "hq"
    # A note, by the event subprocess, while the review is open: the review stays open.
    noted = client.post("/api/messages", json={"name": "note", "instance_id": instance.id}, headers=hq_system)
    assert noted.status_code == 200 and [t["bpmn_id"] for t in noted.json["open_tasks"]] == ["review"]
    # The fee before the path reaches its receive task: nothing waits for it.
    fee = {"name": "fee_paid", "project_code": "P-1", "data": {"paid_on": "2026-10-01"}}
    assert client.post("/api/messages", json=fee, headers=hq_system).status_code == 404
    review = started.json["open_tasks"][0]["id"]
    assert client.post(f"/api/tasks/{review}/claim", headers=people.auth("drc")).status_code == 200
    assert (
        client.post(f"/api/tasks/{review}/complete", json={"data": {}}, headers=people.auth("drc")).status_code == 200
    )
    paid = client.post("/api/messages", json=fee, headers=hq_system)
    assert paid.status_code == 200 and paid.json["open_tasks"] == []
    with database.session() as session:
        done = session.get(ProcessInstance, instance.id)
        assert done.status == "completed"
        types = session.scalars(select(Event.type).where(Event.instance_id == instance.id).order_by(Event.id)).all()
    assert types.count("message.received") == 3 and types[0] == "instance.started"
    # Another request starts another instance: a message start event always makes a new one.
    again = client.post("/api/messages", json=request, headers=hq_system)
    assert again.status_code == 200 and len(instances_of(database, "P-1")) == 2
