"""Incidents and their repair: a failed script retried after an admin fixes the data (live instances)."""

from __future__ import annotations

from tests.helpers import publish_variant, sample_with_script


def _failing_instance(client, people):
    assert publish_variant(client, people, sample_with_script("share = 100 / divisor")).status_code == 201
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        "/api/projects/P-1/instances",
        json={"process_key": "sample_review", "data": {"divisor": 0}},
        headers=people.auth("hq"),
    )
    assert started.status_code == 201 and started.json["status"] == "error"
    (incident,) = client.get("/api/incidents?status=open", headers=people.auth("admin")).json
    assert incident["element"] == "calc" and "ZeroDivisionError" in incident["message"]
    return started.json, incident


def test_a_failed_script_is_retried_after_the_admin_fixes_the_data(client, people):
    instance, incident = _failing_instance(client, people)
    again = client.post(
        f"/api/incidents/{incident['id']}/retry", json={"data": {"divisor": 0}}, headers=people.auth("admin")
    )
    assert again.status_code == 200 and again.json["status"] == "error"  # the same failure: one more attempt
    assert client.get(f"/api/incidents/{incident['id']}", headers=people.auth("admin")).json["attempts"] == 2

    fixed = client.post(
        f"/api/incidents/{incident['id']}/retry", json={"data": {"divisor": 4}}, headers=people.auth("admin")
    )
    assert fixed.status_code == 200 and fixed.json["status"] == "running"
    assert [t["bpmn_id"] for t in fixed.json["open_tasks"]] == ["submit"]
    resolved = client.get(f"/api/incidents/{incident['id']}", headers=people.auth("owner")).json
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    events = client.get(f"/api/instances/{instance['id']}/events", headers=people.auth("admin")).json
    retried = [e for e in events if e["type"] == "incident.retried"]
    assert retried[-1]["actor"] == "admin" and retried[-1]["payload"]["data_before"] == {"divisor": 0}
    assert retried[-1]["payload"]["data_after"] == {"divisor": 4}
    assert events[-1]["type"] == "incident.resolved"
    assert (
        client.post(f"/api/incidents/{incident['id']}/retry", json={}, headers=people.auth("admin")).status_code == 409
    )


def test_only_owners_and_admins_retry_and_bad_data_changes_nothing(client, people):
    instance, incident = _failing_instance(client, people)
    assert client.post(f"/api/incidents/{incident['id']}/retry", json={}, headers=people.auth("hq")).status_code == 403
    bad = client.post(
        f"/api/incidents/{incident['id']}/retry",
        json={"data": {"typename": "BpmnWorkflow"}},
        headers=people.auth("admin"),
    )
    assert bad.status_code == 422
    still = client.get(f"/api/instances/{instance['id']}", headers=people.auth("admin")).json
    assert still["status"] == "error"
    assert client.get(f"/api/incidents/{incident['id']}", headers=people.auth("admin")).json["attempts"] == 1
