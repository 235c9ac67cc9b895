"""Safe retries with an Idempotency-Key: done once, the first answer replayed, other bodies refused."""

from __future__ import annotations

from tests.helpers import SUBMISSION, create_project, start_sample


def test_the_same_completion_sent_three_times_completes_once(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    task_id = instance["open_tasks"][0]["id"]
    headers = {**people.auth("hq"), "Idempotency-Key": "complete-submit-1"}
    answers = [
        client.post(f"/api/tasks/{task_id}/complete", json={"data": SUBMISSION}, headers=headers) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json == answers[1].json == answers[2].json
    assert "Idempotent-Replayed" not in answers[0].headers and answers[2].headers["Idempotent-Replayed"] == "true"
    trail = client.get(f"/api/instances/{instance['id']}/events", headers=people.auth("hq")).json
    assert [e["task_id"] for e in trail if e["type"] == "task.completed"] == [task_id]


def test_the_same_key_with_another_body_is_refused(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    task_id = instance["open_tasks"][0]["id"]
    headers = {**people.auth("hq"), "Idempotency-Key": "k-1"}
    assert client.post(f"/api/tasks/{task_id}/claim", headers=headers).status_code == 200
    other = client.post(f"/api/tasks/{task_id}/complete", json={"data": SUBMISSION}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json["errors"]["json"]
    assert client.get(f"/api/tasks/{task_id}", headers=people.auth("hq")).json["state"] == "claimed"


def test_a_retried_start_creates_one_instance(client, people, sample):
    create_project(client, people)
    headers = {**people.auth("hq"), "Idempotency-Key": "start-P-001"}
    body = {"process_key": "sample_review", "data": {}}
    first = client.post("/api/projects/P-001/instances", json=body, headers=headers)
    again = client.post("/api/projects/P-001/instances", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json["id"] == again.json["id"]
    status = client.get("/api/projects/P-001/status", headers=people.auth("hq")).json
    assert len(status["instances"]) == 1


def test_a_failed_request_is_not_remembered(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    task_id = instance["open_tasks"][0]["id"]
    headers = {**people.auth("hq"), "Idempotency-Key": "k-2"}
    bad = client.post(f"/api/tasks/{task_id}/complete", json={"data": {}}, headers=headers)
    assert bad.status_code == 422
    # The same key and body again: the error again, not a stored success.
    assert client.post(f"/api/tasks/{task_id}/complete", json={"data": {}}, headers=headers).status_code == 422


def test_keys_belong_to_their_user(client, people, sample):
    create_project(client, people)
    start_sample(client, people)
    body = {"process_key": "sample_review", "data": {}}
    for user in ("hq", "hq_lead"):
        response = client.post(
            "/api/projects/P-001/instances", json=body, headers={**people.auth(user), "Idempotency-Key": "same"}
        )
        assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
