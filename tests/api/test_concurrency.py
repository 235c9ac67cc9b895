"""Concurrent clients over real HTTP: no lost and no doubled completion, on both databases."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.helpers import SUBMISSION, create_project, open_task, start_sample


def _post_all_at_once(url: str, calls: list[tuple[str, dict]]) -> list[requests.Response]:
    """POST each (path, json) from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def call(item):
        headers, body = item[1]
        with requests.Session() as http:
            barrier.wait(timeout=30)
            return http.post(url + item[0], json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(call, calls))


def test_twenty_clients_completing_one_task_exactly_one_wins(client, people, sample, live_server):
    create_project(client, people)
    instance = start_sample(client, people)
    task_id = instance["open_tasks"][0]["id"]
    calls = [(f"/api/tasks/{task_id}/complete", (people.auth("hq"), {"data": SUBMISSION}))] * 20

    responses = _post_all_at_once(live_server.url, calls)

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 19, [r.text for r in responses if r.status_code not in (200, 409)]
    trail = client.get(f"/api/instances/{instance['id']}/events", headers=people.auth("hq")).json
    assert [e["task_id"] for e in trail if e["type"] == "task.completed"] == [task_id]
    # The process moved on exactly once: one planning and one water review open.
    open_now = client.get(f"/api/instances/{instance['id']}", headers=people.auth("hq")).json["open_tasks"]
    assert sorted(t["bpmn_id"] for t in open_now) == ["review_planning", "review_water"]


def test_parallel_agencies_completing_at_the_same_moment_both_land(client, people, sample, live_server):
    create_project(client, people)
    for round_ in range(50):
        instance = start_sample(client, people)
        submit = instance["open_tasks"][0]
        done = client.post(f"/api/tasks/{submit['id']}/complete", json={"data": SUBMISSION}, headers=people.auth("hq"))
        assert done.status_code == 200
        planning = open_task(client, people, "pnr", "review_planning", instance["id"])
        water = open_task(client, people, "water", "review_water", instance["id"])

        responses = _post_all_at_once(
            live_server.url,
            [
                (f"/api/tasks/{planning['id']}/complete", (people.auth("pnr"), {"data": {"opinion": "agree"}})),
                (f"/api/tasks/{water['id']}/complete", (people.auth("water"), {"data": {"opinion": "agree"}})),
            ],
        )

        assert [r.status_code for r in responses] == [200, 200], (round_, [r.text for r in responses])
        state = client.get(f"/api/instances/{instance['id']}", headers=people.auth("drc")).json
        assert [t["bpmn_id"] for t in state["open_tasks"]] == ["decide"], (round_, state)
