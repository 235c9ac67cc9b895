"""Bad requests say what is wrong, with the right status, and change nothing."""

from __future__ import annotations

import pytest

from tests.helpers import SUBMISSION, complete, create_project, start_sample


@pytest.fixture
def started(client, people, sample):
    create_project(client, people)
    return start_sample(client, people)


def snapshot(client, people, instance_id):
    """What a change would alter: the instance document and its audit trail."""
    instance = client.get(f"/api/instances/{instance_id}", headers=people.auth("admin")).json
    events = client.get(f"/api/instances/{instance_id}/events", headers=people.auth("admin")).json
    return instance, events


BAD_SUBMISSIONS = {
    "wrong type": ({**SUBMISSION, "estimated_investment": "a lot"}, "estimated_investment"),
    "missing required": ({"estimated_investment": 1}, "application_title"),
    "unknown field": ({**SUBMISSION, "secret_flag": True}, "secret_flag"),
    "typename key": ({**SUBMISSION, "typename": "BpmnWorkflow"}, "typename"),
    "nested typename": ({**SUBMISSION, "remarks": {"typename": "x"}}, "remarks.typename"),
    "dunder key": ({**SUBMISSION, "__builtins__": {}}, "__builtins__"),
    "bad date": ({**SUBMISSION, "submitted_on": "2026-13-45"}, "submitted_on"),
}


@pytest.mark.parametrize("case", sorted(BAD_SUBMISSIONS))
def test_invalid_submission_is_422_naming_the_field_and_changes_nothing(client, people, started, case):
    data, field = BAD_SUBMISSIONS[case]
    task_id = started["open_tasks"][0]["id"]
    before = snapshot(client, people, started["id"])

    response = complete(client, people, "hq", task_id, data)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]["data"], response.json
    assert snapshot(client, people, started["id"]) == before


def test_body_that_is_not_an_object_or_has_unknown_keys(client, people, started):
    task_id = started["open_tasks"][0]["id"]
    response = client.post(f"/api/tasks/{task_id}/complete", json={"data": [1, 2]}, headers=people.auth("hq"))
    assert response.status_code == 422 and "data" in response.json["errors"]["json"]
    response = client.post(f"/api/tasks/{task_id}/complete", json={"data": {}, "extra": 1}, headers=people.auth("hq"))
    assert response.status_code == 422 and "extra" in response.json["errors"]["json"]
    response = client.post(
        f"/api/tasks/{task_id}/complete", data="not json", content_type="application/json", headers=people.auth("hq")
    )
    assert response.status_code == 400 and response.json["code"] == 400  # not JSON at all: a bad request


def test_completing_a_completed_task_is_409(client, people, started):
    task_id = started["open_tasks"][0]["id"]
    assert complete(client, people, "hq", task_id, SUBMISSION).status_code == 200
    before = snapshot(client, people, started["id"])
    again = complete(client, people, "hq", task_id, SUBMISSION)
    assert again.status_code == 409 and "completed" in again.json["message"]
    assert snapshot(client, people, started["id"]) == before


def test_another_agencys_task_is_403_to_read_claim_and_complete(client, people, started):
    task_id = started["open_tasks"][0]["id"]  # an HQ step
    before = snapshot(client, people, started["id"])
    assert client.get(f"/api/tasks/{task_id}", headers=people.auth("pnr")).status_code == 403
    assert client.post(f"/api/tasks/{task_id}/claim", headers=people.auth("pnr")).status_code == 403
    assert complete(client, people, "pnr", task_id, SUBMISSION).status_code == 403
    assert client.get("/api/tasks?agency=HQ", headers=people.auth("pnr")).status_code == 403
    assert snapshot(client, people, started["id"]) == before


def test_observers_read_but_cannot_act(client, people, started):
    task_id = started["open_tasks"][0]["id"]
    assert client.get(f"/api/tasks/{task_id}", headers=people.auth("observer")).status_code == 200
    assert client.post(f"/api/tasks/{task_id}/claim", headers=people.auth("observer")).status_code == 403
    assert complete(client, people, "observer", task_id, SUBMISSION).status_code == 403


def test_no_token_or_a_bad_one_is_401(client, people, started):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/tasks", headers=headers)
        assert response.status_code == 401 and response.json["code"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/tokens", json={"username": "hq", "password": "wrong"}).status_code == 401
    assert client.post("/api/tokens", json={"username": "nobody", "password": "x"}).status_code == 401


def test_revoked_token_stops_working(client, people, started):
    assert client.delete("/api/tokens/current", headers=people.auth("pnr")).status_code == 204
    assert client.get("/api/tasks", headers=people.auth("pnr")).status_code == 401


def test_sign_in_returns_a_working_token(client, people, started):
    from tests.conftest import PASSWORD

    response = client.post("/api/tokens", json={"username": "drc", "password": PASSWORD})
    assert response.status_code == 201 and response.json["agency"] == "DRC"
    token = response.json["token"]
    assert client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks/999999",
        "/api/instances/999999",
        "/api/instances/999999/events",
        "/api/projects/NOPE/status",
        "/api/process-definitions/nope/versions/1/bpmn",
        "/api/no-such-route",
    ],
)
def test_unknown_ids_are_404(client, people, started, path):
    response = client.get(path, headers=people.auth("admin"))
    assert response.status_code == 404 and response.json["code"] == 404


def test_a_start_for_an_unknown_project_is_404_and_starts_nothing(client, people, started):
    before = client.get("/api/projects/P-001/status", headers=people.auth("hq")).json
    for process_key in ("sample_review", "nope"):  # the project is named first, known process or not
        response = client.post(
            "/api/projects/NOPE/instances", json={"process_key": process_key}, headers=people.auth("hq")
        )
        assert response.status_code == 404 and "NOPE" in response.json["message"]
    assert client.get("/api/projects/P-001/status", headers=people.auth("hq")).json == before


def test_unknown_process_and_bad_project_input(client, people, started):
    response = client.post("/api/projects/P-001/instances", json={"process_key": "nope"}, headers=people.auth("hq"))
    assert response.status_code == 422 and "process_key" in response.json["errors"]["json"]
    response = client.post(
        "/api/projects/P-001/instances",
        json={"process_key": "sample_review", "data": {"typename": "x"}},
        headers=people.auth("hq"),
    )
    assert response.status_code == 422 and "typename" in response.json["errors"]["json"]["data"]
    response = client.post("/api/projects", json={"code": "bad code!", "name": ""}, headers=people.auth("hq"))
    assert response.status_code == 422
    assert {"code", "name"} <= set(response.json["errors"]["json"])
    response = client.post("/api/projects", json={"code": "P-001", "name": "dup"}, headers=people.auth("hq"))
    assert response.status_code == 409
    response = client.post("/api/projects", json={"code": "P-002", "name": "x"}, headers=people.auth("pnr"))
    assert response.status_code == 403
    projects = client.get("/api/projects", headers=people.auth("hq")).json
    assert [p["code"] for p in projects["items"]] == ["P-001"]


def test_password_guessing_is_slowed_down(client, people, started):
    """Growing delays per user name and client address, never a lock-out of the real user."""
    from datetime import UTC, datetime, timedelta

    import time_machine

    from tests.conftest import PASSWORD

    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(3):  # three free attempts from this address
            assert client.post("/api/tokens", json={"username": "drc", "password": "guess"}).status_code == 401
        refused = client.post("/api/tokens", json={"username": "drc", "password": PASSWORD})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
        # The real user at another desk is not held up, and other names from here neither.
        elsewhere = client.post(
            "/api/tokens", json={"username": "drc", "password": PASSWORD}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
        )
        assert elsewhere.status_code == 201
        assert client.post("/api/tokens", json={"username": "pnr", "password": PASSWORD}).status_code == 201
    with time_machine.travel(start + timedelta(seconds=3), tick=False):
        assert client.post("/api/tokens", json={"username": "drc", "password": "guess"}).status_code == 401
        again = client.post("/api/tokens", json={"username": "drc", "password": PASSWORD})
        assert again.status_code == 429 and again.headers["Retry-After"] == "4"  # the delay grows
    with time_machine.travel(start + timedelta(seconds=8), tick=False):
        assert client.post("/api/tokens", json={"username": "drc", "password": PASSWORD}).status_code == 201


def test_text_a_database_cannot_keep_is_refused_naming_the_field(client, people, sample):
    """NUL characters (PostgreSQL cannot store them) and unpaired surrogates get 422, not a 500."""
    signin = client.post(
        "/api/tokens", data='{"username": "a\\u0000b", "password": "x"}', content_type="application/json"
    )
    assert signin.status_code == 422 and "username" in signin.json["errors"]["json"]
    project = client.post(
        "/api/projects",
        data='{"code": "P-9", "name": "\\ud83c"}',
        content_type="application/json",
        headers=people.auth("hq"),
    )
    assert project.status_code == 422 and "name" in project.json["errors"]["json"]
    inbox = client.get("/api/tasks?project=%00", headers=people.auth("hq"))
    assert inbox.status_code == 422 and "project" in inbox.json["errors"]["query"]
    assert client.get("/api/projects/a%00b/status", headers=people.auth("hq")).status_code == 404
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        "/api/projects/P-1/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    ).json
    bad_form = client.post(
        f"/api/tasks/{started['open_tasks'][0]['id']}/complete",
        data='{"data": {"application_title": "x\\u0000y", "estimated_investment": 1}}',
        content_type="application/json",
        headers=people.auth("hq"),
    )
    assert bad_form.status_code == 422
    assert bad_form.json["errors"]["json"] == {
        "data.application_title": ["text must not contain NUL characters or unpaired surrogates"]
    }
