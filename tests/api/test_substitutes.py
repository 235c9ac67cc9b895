"""Substitutes while someone is away, and delegating a claimed step to a colleague and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from tests.helpers import SUBMISSION, complete, create_project, open_task, start_sample


def on(month: int, day: int):
    return time_machine.travel(datetime(2026, month, day, 2, 0, tzinfo=UTC), tick=False)


def post(client, people, user, path, body=None):
    return client.post(path, json=body, headers=people.auth(user))


@pytest.fixture
def claimed_review(client, people, sample):
    """PNR's review, claimed by pnr on 2026-09-21."""
    create_project(client, people)
    with on(9, 21):
        instance = start_sample(client, people)
        assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
        task = open_task(client, people, "pnr", "review_planning")
        assert post(client, people, "pnr", f"/api/tasks/{task['id']}/claim").status_code == 200
    return task


def away(client, people, starts_on="2026-09-22", ends_on="2026-09-25", **extra):
    return post(
        client,
        people,
        "pnr",
        "/api/substitutions",
        {"substitute": "pnr2", "starts_on": starts_on, "ends_on": ends_on, **extra},
    )


def test_substitute_acts_during_the_absence_only(client, people, claimed_review):
    tid = claimed_review["id"]
    with on(9, 21):
        created = away(client, people)
        assert created.status_code == 201 and created.json["active"] is False  # starts tomorrow
        assert client.get("/api/tasks?assignee=me", headers=people.auth("pnr2")).json["total"] == 0
    with on(9, 23):
        mine = client.get("/api/tasks?assignee=me", headers=people.auth("pnr2")).json
        assert [(t["id"], t["assignee"]) for t in mine["items"]] == [(tid, "pnr")]
        listed = client.get("/api/substitutions", headers=people.auth("pnr2")).json
        assert [(s["user"], s["substitute"], s["active"]) for s in listed] == [("pnr", "pnr2", True)]
    with on(9, 28):  # the absence is over: pnr2 may no longer act for pnr
        late = complete(client, people, "pnr2", tid, {"opinion": "agree"})
        assert late.status_code == 409 and "claimed by pnr" in late.json["message"]
    with on(9, 24):
        done = complete(client, people, "pnr2", tid, {"opinion": "agree"})
    assert done.status_code == 200, done.json
    task = client.get(f"/api/tasks/{tid}", headers=people.auth("pnr")).json
    assert (task["completed_by"], task["on_behalf_of"]) == ("pnr2", "pnr")
    events = client.get(f"/api/instances/{task['instance_id']}/events", headers=people.auth("pnr")).json
    (completed,) = [e for e in events if e["type"] == "task.completed" and e["task_id"] == tid]
    assert (completed["actor"], completed["payload"]["on_behalf_of"]) == ("pnr2", "pnr")


def test_revoked_substitution_ends_the_right(client, people, claimed_review):
    with on(9, 22):
        row = away(client, people).json
        assert client.delete(f"/api/substitutions/{row['id']}", headers=people.auth("pnr2")).status_code == 403
        assert client.delete(f"/api/substitutions/{row['id']}", headers=people.auth("pnr")).status_code == 200
        assert complete(client, people, "pnr2", claimed_review["id"], {"opinion": "agree"}).status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"substitute": "water"}, "substitute"),  # another agency
        ({"substitute": "pnr"}, "substitute"),  # oneself
        ({"substitute": "nobody"}, "substitute"),
        ({"substitute": "pnr2", "ends_on": "2026-09-01"}, "ends_on"),  # before the start
    ],
)
def test_invalid_substitutions_name_the_field(client, people, claimed_review, body, field):
    with on(9, 21):
        response = post(
            client, people, "pnr", "/api/substitutions", {"starts_on": "2026-09-22", "ends_on": "2026-09-25", **body}
        )
    assert response.status_code == 422 and field in response.json["errors"]["json"], response.json


def test_only_the_user_or_their_lead_names_a_substitute(client, people, claimed_review):
    with on(9, 21):
        assert away(client, people, user="pnr2").status_code == 403  # pnr naming one for pnr2
        by_lead = post(
            client,
            people,
            "pnr_lead",
            "/api/substitutions",
            {"user": "pnr", "substitute": "pnr2", "starts_on": "2026-09-22", "ends_on": "2026-09-22"},
        )
        assert by_lead.status_code == 201
        assert (
            post(
                client,
                people,
                "drc_lead",
                "/api/substitutions",
                {"user": "pnr", "substitute": "pnr2", "starts_on": "2026-09-22", "ends_on": "2026-09-22"},
            ).status_code
            == 403
        )


def test_delegate_and_recall(client, people, claimed_review):
    tid = claimed_review["id"]
    assert post(client, people, "pnr2", f"/api/tasks/{tid}/delegate", {"username": "pnr_lead"}).status_code == 409
    outside = post(client, people, "pnr", f"/api/tasks/{tid}/delegate", {"username": "water"})
    assert outside.status_code == 422 and "username" in outside.json["errors"]["json"]
    delegated = post(client, people, "pnr", f"/api/tasks/{tid}/delegate", {"username": "pnr2"})
    assert delegated.status_code == 200
    assert (delegated.json["assignee"], delegated.json["delegated_by"]) == ("pnr2", "pnr")
    assert complete(client, people, "pnr", tid, {"opinion": "agree"}).status_code == 409  # it is with pnr2 now
    recalled = post(client, people, "pnr", f"/api/tasks/{tid}/recall")
    assert (recalled.json["assignee"], recalled.json["delegated_by"]) == ("pnr", None)
    assert post(client, people, "pnr", f"/api/tasks/{tid}/recall").status_code == 409  # nothing to recall

    post(client, people, "pnr", f"/api/tasks/{tid}/delegate", {"username": "pnr2"})
    done = complete(client, people, "pnr2", tid, {"opinion": "agree"})
    assert done.status_code == 200
    task = client.get(f"/api/tasks/{tid}", headers=people.auth("pnr")).json
    assert (task["completed_by"], task["on_behalf_of"]) == ("pnr2", "pnr")
    history = client.get(f"/api/instances/{task['instance_id']}/events", headers=people.auth("pnr")).json
    assert [e["type"] for e in history if e["task_id"] == tid] == [
        "task.created",
        "task.claimed",
        "task.delegated",
        "task.recalled",
        "task.delegated",
        "task.completed",
    ]
