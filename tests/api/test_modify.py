"""Instance modification: skip a step, go back, patch the data, repair a failed script (owners and admins)."""

from __future__ import annotations

import pytest

from tests.api.test_incidents import _failing_instance
from tests.helpers import complete, open_task, submitted_sample


def _modify(client, people, instance_id, user="owner", **body):
    return client.post(f"/api/instances/{instance_id}/modify", json=body, headers=people.auth(user))


def _open(response) -> list[str]:
    return sorted(t["bpmn_id"] for t in response.json["open_tasks"])


def _events(client, people, instance_id, type_):
    events = client.get(f"/api/instances/{instance_id}/events", headers=people.auth("admin")).json
    return [e for e in events if e["type"] == type_]


def test_a_parallel_review_is_skipped_and_the_decision_follows_the_other(client, people, sample):
    instance = submitted_sample(client, people)
    skipped = _modify(
        client, people, instance["id"], reason="水务意见已线下出具", cancel=["review_water"], start_before=["gw_join"]
    )
    assert skipped.status_code == 200, skipped.json
    assert _open(skipped) == ["review_planning"]
    planning = open_task(client, people, "pnr", "review_planning")
    assert complete(client, people, "pnr", planning["id"], {"opinion": "agree"}).status_code == 200
    open_task(client, people, "drc", "decide", instance["id"])  # the join let the decision through
    (event,) = _events(client, people, instance["id"], "instance.modified")
    assert event["actor"] == "owner" and event["payload"]["reason"] == "水务意见已线下出具"
    assert event["payload"]["cancelled"] == ["review_water"] and event["payload"]["started_before"] == ["gw_join"]
    cancelled = _events(client, people, instance["id"], "task.cancelled")
    assert cancelled[-1]["payload"]["reason"] == "modified: 水务意见已线下出具"


def test_an_instance_goes_back_to_an_earlier_step_with_its_data_corrected(client, people, sample):
    instance = submitted_sample(client, people)
    back = _modify(
        client,
        people,
        instance["id"],
        user="admin",
        reason="申请事项填错，退回重填",
        start_before=["submit"],
        data={"site": "南山区"},
    )
    assert back.status_code == 200, back.json
    assert _open(back) == ["submit"]
    (event,) = _events(client, people, instance["id"], "instance.modified")
    assert event["payload"]["data_before"] == {"site": "福田区"} and event["payload"]["data_after"] == {
        "site": "南山区"
    }


def test_a_failed_script_is_skipped_and_its_incident_resolved(client, people):
    instance, incident = _failing_instance(client, people)
    skipped = _modify(
        client, people, instance["id"], reason="份额另行计算", cancel=["calc"], start_before=["gw_resubmit"]
    )
    assert skipped.status_code == 200, skipped.json
    assert skipped.json["status"] == "running" and _open(skipped) == ["submit"]
    assert client.get(f"/api/incidents/{incident['id']}", headers=people.auth("owner")).json["status"] == "resolved"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cancel": ["review_water"]}, "reason"),
        ({"reason": "r"}, "cancel"),
        ({"reason": "r", "cancel": ["nowhere"]}, "cancel"),
        ({"reason": "r", "start_before": ["decide"]}, "start_before"),
        ({"reason": "r", "data": {"estimated_investment": "many"}}, "data.estimated_investment"),
        ({"reason": "r", "data": {"typename": "BpmnWorkflow"}}, "typename"),
        ({"reason": "r", "cancel": ["review_water", "review_planning"]}, "cancel"),
        ({"reason": "r", "cancel": "review_water"}, "cancel"),
    ],
)
def test_a_bad_modification_names_the_field_and_changes_nothing(client, people, sample, body, field):
    instance = submitted_sample(client, people)
    before = client.get(f"/api/instances/{instance['id']}", headers=people.auth("admin")).json
    refused = _modify(client, people, instance["id"], **body)
    assert refused.status_code == 422, refused.json
    assert any(field in key for key in _keys(refused.json["errors"])), refused.json
    assert client.get(f"/api/instances/{instance['id']}", headers=people.auth("admin")).json == before
    assert _events(client, people, instance["id"], "instance.modified") == []


def _keys(errors, prefix=""):
    for key, value in errors.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _keys(value, prefix + key + ".")


def test_only_owners_and_admins_modify_and_not_an_ended_instance(client, people, sample):
    instance = submitted_sample(client, people)
    body = {"reason": "r", "cancel": ["review_water"], "start_before": ["gw_join"]}
    for user in ("pnr", "drc_lead", "observer"):
        assert _modify(client, people, instance["id"], user=user, **body).status_code == 403
    ended = client.post(f"/api/instances/{instance['id']}/terminate", json={}, headers=people.auth("admin"))
    assert ended.status_code == 200
    assert _modify(client, people, instance["id"], **body).status_code == 409
    assert _modify(client, people, 10**9, **body).status_code == 404
