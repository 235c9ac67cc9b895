"""Overdue steps escalate once to the agency's lead as a reminder, recorded in the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from tests.helpers import submitted_sample

SUBMITTED_AT = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)  # planning due 2026-10-26, water 2026-10-19
AFTER_WATER_DUE = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)


def test_overdue_step_raises_one_reminder_for_the_lead(client, people, sample, database):
    from approvals.services import escalation

    with time_machine.travel(SUBMITTED_AT, tick=False):
        started = submitted_sample(client, people)
        assert escalation.escalate_overdue(database) == 0
    with time_machine.travel(AFTER_WATER_DUE, tick=False):
        assert escalation.escalate_overdue(database) == 1  # water is late; planning is not yet
        assert escalation.escalate_overdue(database) == 0  # once only
        inbox = client.get("/api/tasks?agency=WATER", headers=people.auth("admin")).json["items"]
        reminder = next(t for t in inbox if t["kind"] == "reminder")
        water = next(t for t in inbox if t["kind"] == "step")
        assert reminder["name"] == "催办：水务意见" and reminder["reminder_for"] == water["id"]
        assert water["overdue"] is True and water["escalated_at"] is not None
        trail = client.get(f"/api/instances/{started['id']}/events", headers=people.auth("admin")).json
        escalated = [e for e in trail if e["type"] == "task.escalated"]
        assert len(escalated) == 1 and escalated[0]["task_id"] == water["id"]

        # The step is finally done: its reminder closes by itself.
        done = client.post(
            f"/api/tasks/{water['id']}/complete", json={"data": {"opinion": "agree"}}, headers=people.auth("water")
        )
        assert done.status_code == 200
        states = {
            t["id"]: t["state"]
            for t in client.get("/api/tasks?agency=WATER&state=all", headers=people.auth("admin")).json["items"]
        }
        assert states[reminder["id"]] == "cancelled"
        trail = client.get(f"/api/instances/{started['id']}/events", headers=people.auth("admin")).json
        # The step's completion comes first in the trail, then its reminder's cancellation.
        assert [(e["type"], e["task_id"]) for e in trail][-2:] == [
            ("task.completed", water["id"]),
            ("task.cancelled", reminder["id"]),
        ]


def test_a_lead_acknowledges_a_reminder_without_moving_the_process(client, people, sample, database):
    from approvals.services import escalation

    with time_machine.travel(SUBMITTED_AT, tick=False):
        submitted_sample(client, people)
    with time_machine.travel(datetime(2026, 10, 27, 2, 0, tzinfo=UTC), tick=False):
        assert escalation.escalate_overdue(database) == 2
        mine = client.get("/api/tasks?assignee=me", headers=people.auth("pnr_lead")).json["items"]
        assert [t["name"] for t in mine] == ["催办：规划意见"]
        ack = client.post(f"/api/tasks/{mine[0]['id']}/complete", json={"data": {}}, headers=people.auth("pnr_lead"))
        assert ack.status_code == 200
        assert sorted(t["bpmn_id"] for t in ack.json["open_tasks"] if t["kind"] == "step") == [
            "review_planning",
            "review_water",
        ]
