"""Moving running instances to a new version over the API: dry run, blocked reasons, what carries over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine

from approvals.models import ProcessInstance
from tests.api.test_incidents import _failing_instance
from tests.conftest import BPMN_DIR
from tests.helpers import (
    SUBMISSION,
    complete,
    open_task,
    post_files,
    publish_variant,
    sample_with_script,
    submitted_sample,
)

SAMPLE = (BPMN_DIR / "sample_review.bpmn").read_text()
TIMER = Path(__file__).parent.parent / "data" / "timer_followup.bpmn"


def _migrate(client, people, key="sample_review", user="owner", **body):
    return client.post(f"/api/process-definitions/{key}/migrations", json=body, headers=people.auth(user))


def _without_water_review() -> str:
    """The sample with its water review removed: the split leads to the planning review alone."""
    return (
        SAMPLE.replace('<bpmn:sequenceFlow id="flow_to_water" sourceRef="gw_split" targetRef="review_water" />', "")
        .replace('<bpmn:sequenceFlow id="flow_water_done" sourceRef="review_water" targetRef="gw_join" />', "")
        .replace("<bpmn:outgoing>flow_to_water</bpmn:outgoing>", "")
        .replace("<bpmn:incoming>flow_water_done</bpmn:incoming>", "")
        .replace('name="规划意见"', 'name="规划审查意见"')
    )


def _cut_water_review(text: str) -> str:
    start = text.index('<bpmn:userTask id="review_water"')
    end = text.index("</bpmn:userTask>", start) + len("</bpmn:userTask>")
    return text[:start] + text[end:]


def test_a_dry_run_then_a_migration_with_blocked_instances_left_alone(client, people, sample):
    reviewing = submitted_sample(client, people, "P-1")  # PNR and WATER reviews open
    client.post("/api/projects", json={"code": "P-2", "name": "项目"}, headers=people.auth("hq"))
    fresh = client.post("/api/projects/P-2/instances", json={"process_key": "sample_review"}, headers=people.auth("hq"))
    planning = open_task(client, people, "pnr", "review_planning", reviewing["id"])
    assert client.post(f"/api/tasks/{planning['id']}/claim", headers=people.auth("pnr")).status_code == 200
    v2 = publish_variant(client, people, _cut_water_review(_without_water_review()))
    assert v2.status_code == 201, v2.json

    dry = _migrate(client, people, from_version=1, to_version=2, dry_run=True)
    assert dry.status_code == 200, dry.json
    assert dry.json["migratable"] == [fresh.json["id"]] and dry.json["migrated"] == []
    (blocked,) = dry.json["blocked"]
    assert blocked["instance_id"] == reviewing["id"]
    assert blocked["reasons"] == ["review_water (水务意见) is open and the new version removes it"]

    done = _migrate(client, people, from_version=1, to_version=2, reason="水务意见改为会签")
    assert done.json == {
        "migratable": [fresh.json["id"]],
        "blocked": dry.json["blocked"],
        "migrated": [fresh.json["id"]],
    }
    moved = client.get(f"/api/instances/{fresh.json['id']}", headers=people.auth("admin")).json
    assert moved["version"] == 2 and moved["open_tasks"][0]["id"] == fresh.json["open_tasks"][0]["id"]
    left = client.get(f"/api/instances/{reviewing['id']}", headers=people.auth("admin")).json
    assert left["version"] == 1 and {t["bpmn_id"] for t in left["open_tasks"]} == {"review_planning", "review_water"}
    claimed = next(t for t in left["open_tasks"] if t["bpmn_id"] == "review_planning")
    assert claimed["assignee"] == "pnr"  # untouched
    events = client.get(f"/api/instances/{fresh.json['id']}/events", headers=people.auth("admin")).json
    assert events[-1]["type"] == "instance.migrated" and events[-1]["actor"] == "owner"
    assert events[-1]["payload"]["reason"] == "水务意见改为会签" and events[-1]["payload"]["to_version"] == 2

    # The moved instance runs v2: after the submission only the (renamed) planning review opens.
    submit = fresh.json["open_tasks"][0]
    assert complete(client, people, "hq", submit["id"], SUBMISSION).status_code == 200
    after = client.get(f"/api/instances/{fresh.json['id']}", headers=people.auth("admin")).json
    assert [(t["bpmn_id"], t["name"]) for t in after["open_tasks"]] == [("review_planning", "规划审查意见")]


def test_bad_migration_requests_name_the_field_and_move_nothing(client, people, sample):
    instance = submitted_sample(client, people)
    assert publish_variant(client, people, SAMPLE.replace('name="审批决定"', 'name="决定"')).status_code == 201
    assert _migrate(client, people, from_version=1, to_version=1).status_code == 422
    assert "to_version" in _migrate(client, people, from_version=1, to_version=1).json["errors"]["json"]
    assert _migrate(client, people, from_version=1, to_version=9).status_code == 404
    assert _migrate(client, people, key="nothing", from_version=1, to_version=2).status_code == 404
    assert _migrate(client, people, from_version=1).status_code == 422
    assert _migrate(client, people, from_version=1, to_version=2, extra=1).status_code == 422
    assert _migrate(client, people, from_version=1, to_version=2, instance_ids=[]).status_code == 422
    for user in ("hq", "pnr_lead", "observer"):
        assert _migrate(client, people, user=user, from_version=1, to_version=2).status_code == 403
    unknown = _migrate(client, people, from_version=1, to_version=2, instance_ids=[10**9])
    assert unknown.json["blocked"] == [{"instance_id": 10**9, "reasons": [f"process instance {10**9} not found"]}]
    wrong = _migrate(client, people, from_version=2, to_version=1, instance_ids=[instance["id"]])
    assert wrong.json["blocked"][0]["reasons"] == [f"instance {instance['id']} runs sample_review version 1, not 2"]
    assert client.get(f"/api/instances/{instance['id']}", headers=people.auth("admin")).json["version"] == 1


def test_a_waiting_timer_keeps_its_due_time(client, people, database):
    start = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        assert post_files(client, people, "owner", [("bpmn", "t.bpmn", TIMER.read_bytes())]).status_code == 201
        client.post("/api/projects", json={"code": "T-1", "name": "定时"}, headers=people.auth("hq"))
        started = client.post(
            "/api/projects/T-1/instances", json={"process_key": "timer_followup"}, headers=people.auth("hq")
        ).json
        step = started["open_tasks"][0]
        assert (
            client.post(f"/api/tasks/{step['id']}/complete", json={"data": {}}, headers=people.auth("hq")).status_code
            == 200
        )
    renamed = TIMER.read_text().replace('name="跟进"', 'name="跟进办理"')
    with time_machine.travel(start + timedelta(days=1), tick=False):
        assert post_files(client, people, "owner", [("bpmn", "t.bpmn", renamed.encode())]).status_code == 201
        moved = _migrate(client, people, key="timer_followup", from_version=1, to_version=2)
        assert moved.json["migrated"] == [started["id"]]
    with database.session() as session:
        instance = session.get(ProcessInstance, started["id"])
        assert instance.definition.version == 2
        assert instance.next_timer_at == start + timedelta(days=2)  # not restarted on the day of the move


def test_an_instance_in_error_is_moved_to_a_fixed_version_and_retried(client, people, sample):
    instance, incident = _failing_instance(client, people)
    fixed = publish_variant(client, people, sample_with_script("share = 100 / divisor if divisor else 0"))
    assert fixed.status_code == 201
    version = fixed.json["version"]
    moved = _migrate(client, people, from_version=version - 1, to_version=version)
    assert moved.json["migrated"] == [instance["id"]], moved.json
    retried = client.post(f"/api/incidents/{incident['id']}/retry", json={}, headers=people.auth("owner"))
    assert retried.status_code == 200 and retried.json["status"] == "running"
    assert [t["bpmn_id"] for t in retried.json["open_tasks"]] == ["submit"]


def test_an_open_step_moved_to_another_agency_blocks_but_a_lane_renamed_to_an_alias_does_not(client, people, sample):
    instance = submitted_sample(client, people)  # WATER's review is open
    alias = SAMPLE.replace('<bpmn:lane id="Lane_WATER" name="WATER">', '<bpmn:lane id="Lane_WATER" name="水务局">')
    assert publish_variant(client, people, alias).status_code == 201
    moved_lane = alias.replace("<bpmn:flowNodeRef>review_water</bpmn:flowNodeRef>", "").replace(
        "<bpmn:flowNodeRef>review_planning</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>review_planning</bpmn:flowNodeRef><bpmn:flowNodeRef>review_water</bpmn:flowNodeRef>",
    )
    assert publish_variant(client, people, moved_lane).status_code == 201
    blocked = _migrate(client, people, from_version=1, to_version=3, dry_run=True).json["blocked"]
    assert blocked == [
        {
            "instance_id": instance["id"],
            "reasons": [
                "review_water (水务意见) is open in lane 'WATER' and the new version moves it to lane 'PNR': "
                "complete it first"
            ],
        }
    ]
    assert _migrate(client, people, from_version=1, to_version=2).json["migrated"] == [instance["id"]]
    water = open_task(client, people, "water", "review_water", instance["id"])
    assert water["agency"] == "WATER"


def test_an_instance_whose_state_cannot_be_read_is_reported_and_the_others_move(client, people, sample, database):
    broken, fine = submitted_sample(client, people, "P-1"), submitted_sample(client, people, "P-2")
    with database.session() as session:
        session.get(ProcessInstance, broken["id"]).state = "[]"
    assert publish_variant(client, people, SAMPLE.replace('name="审批决定"', 'name="决定"')).status_code == 201
    done = _migrate(client, people, from_version=1, to_version=2).json
    assert done["migrated"] == [fine["id"]]
    (blocked,) = done["blocked"]
    assert blocked["instance_id"] == broken["id"] and "cannot be read" in blocked["reasons"][0]
