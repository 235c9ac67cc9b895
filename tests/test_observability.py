"""What operators watch: request ids in the answers, the logs and the audit trail; /metrics in the
Prometheus format, moving with the work, and added up over gunicorn's workers."""

from __future__ import annotations

import json
import logging

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from approvals.models import Event
from approvals.observability import JsonFormatter
from tests.helpers import SUBMISSION, complete, create_project, start_sample
from tests.processes import Server


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape: (name, sorted labels) -> value; fails if the text does not parse."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_request_id_is_answered_logged_and_kept_in_the_audit_trail(client, people, database, sample, caplog):
    create_project(client, people)
    with caplog.at_level(logging.INFO, logger="approvals.request"):
        answer = client.post(
            "/api/projects/P-001/instances",
            json={"process_key": "sample_review"},
            headers={**people.auth("hq"), "X-Request-Id": "trace-12345678"},
        )
    assert answer.status_code == 201 and answer.headers["X-Request-Id"] == "trace-12345678"
    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert line["request_id"] == "trace-12345678" and line["status"] == 201
    assert line["route"] == "/api/projects/<string:code>/instances" and line["duration_ms"] >= 0
    with database.session() as session:
        started = session.scalars(select(Event).where(Event.type == "instance.started")).one()
        assert started.request_id == "trace-12345678"
    made_up = client.get("/healthz", headers={"X-Request-Id": "bad id; <script>"})
    assert len(made_up.headers["X-Request-Id"]) == 32  # refused, a new one given


def test_metrics_move_with_the_work(client, people, sample):
    create_project(client, people)
    before = scrape(client.get("/metrics").get_data(as_text=True))
    instance = start_sample(client, people)
    assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
    after = scrape(client.get("/metrics").get_data(as_text=True))
    completed = ("approvals_completed_steps", (("agency", "HQ"),))
    assert after[completed] == before.get(completed, 0) + 1
    assert after[("approvals_open_steps", (("agency", "PNR"),))] == 1
    route = (("method", "POST"), ("route", "/api/tasks/<int:task_id>/complete"), ("status", "200"))
    assert after[("approvals_http_requests_total", route)] >= 1
    assert ("approvals_outbox_backlog", ()) in after and ("approvals_worker_heartbeat_age_seconds", ()) in after


def test_metrics_add_up_every_gunicorn_worker(database_url):
    server = Server(database_url, workers=2).start()
    try:
        for _ in range(40):
            assert requests.get(server.base + "/healthz", timeout=5).status_code == 200
        counted = scrape(requests.get(server.base + "/metrics", timeout=5).text)
        healthz = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
        assert counted[("approvals_http_requests_total", healthz)] >= 40  # whichever worker answered
        lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    finally:
        server.stop()
    assert any(line.get("route") == "/healthz" and len(line["request_id"]) == 32 for line in lines)


def test_the_server_log_has_a_line_per_request_not_the_engines_every_step(database_url, client, people, sample):
    """What an operator reads on the server's stderr: a JSON line for each request, not the
    workflow engine's task state changes (several a step, naming no instance)."""
    create_project(client, people)
    server = Server(database_url, workers=1).start()
    try:
        started = requests.post(
            server.base + "/api/projects/P-001/instances",
            json={"process_key": "sample_review"},
            headers=people.auth("hq"),
            timeout=10,
        )
        assert started.status_code == 201
        submission = started.json()["open_tasks"][0]["id"]
        done = requests.post(
            f"{server.base}/api/tasks/{submission}/complete",
            json={"data": SUBMISSION},
            headers=people.auth("hq"),
            timeout=10,
        )
        assert done.status_code == 200
        lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    finally:
        server.stop()
    worked = [line["route"] for line in lines if line.get("status") in (200, 201)]
    assert worked.count("/api/projects/<string:code>/instances") == 1
    assert worked.count("/api/tasks/<int:task_id>/complete") == 1
    assert {line["logger"] for line in lines} == {"approvals.request"}


def test_metrics_can_ask_for_a_token(app, client):
    app.config["METRICS_TOKEN"] = "scrape-secret-1234"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1234"}).status_code == 200
