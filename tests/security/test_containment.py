"""Live instances, containment: a form's catastrophic pattern cannot hang a request."""

from __future__ import annotations

import json
import time

from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import SUBMISSION, post_files, publish_variant


def test_a_catastrophic_pattern_answers_quickly_with_a_field_error(client, people):
    forms = read_forms(BPMN_DIR / "sample_review.bpmn")
    submit = json.loads(forms["sample_submit.schema.json"])
    submit["properties"]["application_title"]["pattern"] = "^(a|a)+$"  # exponential on "aaaa…!"
    forms["sample_submit.schema.json"] = json.dumps(submit).encode()
    assert publish_variant(client, people, (BPMN_DIR / "sample_review.bpmn").read_bytes(), forms).status_code == 201
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        "/api/projects/P-1/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    )
    task = started.json["open_tasks"][0]["id"]
    began = time.monotonic()
    response = client.post(
        f"/api/tasks/{task}/complete",
        json={"data": {**SUBMISSION, "application_title": "a" * 60 + "!"}},
        headers=people.auth("hq"),
    )
    assert time.monotonic() - began < 5  # re would take longer than the universe's age here
    assert response.status_code == 422
    assert "too long to check" in response.json["errors"]["json"]["data"]["application_title"][0]
    fine = client.post(
        f"/api/tasks/{task}/complete",
        json={"data": {**SUBMISSION, "application_title": "aaa"}},
        headers=people.auth("hq"),
    )
    assert fine.status_code == 200


def _multi_instance_review(cardinality: str) -> bytes:
    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    end = sample.index("</bpmn:userTask>", sample.index('<bpmn:userTask id="review_planning"'))
    loop = (
        f"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>"
        "</bpmn:multiInstanceLoopCharacteristics>"
    )
    return (sample[:end] + loop + sample[end:]).encode()


def test_a_literal_cardinality_over_the_bound_is_refused_at_publish(client, people):
    response = publish_variant(client, people, _multi_instance_review("1000000000"))
    assert response.status_code == 422
    assert any(
        p["element"] == "review_planning" and "cardinality" in p["message"] for p in response.json["errors"]["bpmn"]
    )


def test_a_computed_cardinality_over_the_bound_stops_the_instance_quickly(client, people):
    assert publish_variant(client, people, _multi_instance_review("reviewers")).status_code == 201
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        "/api/projects/P-1/instances",
        json={"process_key": "sample_review", "data": {"reviewers": 10**9}},
        headers=people.auth("hq"),
    )
    began = time.monotonic()
    done = client.post(
        f"/api/tasks/{started.json['open_tasks'][0]['id']}/complete",
        json={"data": SUBMISSION},
        headers=people.auth("hq"),
    )
    assert time.monotonic() - began < 5
    assert done.status_code == 200 and done.json["status"] == "error"
    instance = client.get(f"/api/instances/{done.json['instance_id']}", headers=people.auth("hq")).json
    assert "cardinality" in instance["error"]["message"]


def test_an_endless_automatic_loop_stops_its_instance_quickly(client, people):
    model = (BPMN_DIR.parent / "tests" / "data" / "endless_loop.bpmn").read_bytes()
    assert post_files(client, people, "owner", [("bpmn", "endless.bpmn", model)]).status_code == 201
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    began = time.monotonic()
    started = client.post("/api/projects/P-1/instances", json={"process_key": "endless"}, headers=people.auth("hq"))
    assert time.monotonic() - began < 10
    assert started.status_code == 201 and started.json["status"] == "error"
    assert "automatic steps" in started.json["error"]["message"]
    assert client.post("/api/tokens", json={"username": "pnr", "password": "pw"}).status_code == 401  # still answers
