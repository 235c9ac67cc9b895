"""Webhooks against a real HTTP receiver on this machine, on both databases: signed deliveries,
at least once and in order per instance, retried with back-off while the receiver is down, dead
after the last attempt and replayed; only allowed hosts, no redirects followed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from sqlalchemy import func, select

from approvals.models import Event, OutboxMessage, WebhookDelivery, utcnow
from approvals.services import dispatch
from tests.helpers import SUBMISSION, complete, create_project, open_task, start_sample

SECRET = "a-secret-of-thirty-two-characters!"


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it is sent; ``answer`` is the status it gives."""

    def __init__(self):
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answer = 200
        self.location = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.answer == 200:
                    receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.answer)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


SETTINGS = dispatch.Settings(hosts=frozenset({"127.0.0.1"}), attempts=4, retry_seconds=60, timeout_seconds=5)


def add_webhook(client, people, url, events=("*",), **extra):
    return client.post(
        "/api/webhooks",
        json={"url": url, "events": list(events), "secret": SECRET, **extra},
        headers=people.auth("admin"),
    )


@pytest.fixture
def hosts(app, sample):
    app.config["WEBHOOK_HOSTS"] = "127.0.0.1"


def test_one_completion_is_one_signed_delivery(client, people, database, receiver, hosts):
    created = add_webhook(client, people, receiver.url, ["task.completed"])
    assert created.status_code == 201 and created.json["secret"] == SECRET
    create_project(client, people)
    instance = start_sample(client, people)
    assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
    assert receiver.received == []  # nothing is sent from inside a request
    assert dispatch.run_pass(database, SETTINGS) == 1
    ((headers, body),) = receiver.received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Approvals-Signature"] == f"sha256={expected}"
    assert headers["X-Approvals-Event"] == "task.completed" and len(headers["X-Approvals-Delivery"]) == 36
    sent = json.loads(body)
    assert (sent["type"], sent["instance_id"], sent["project_code"]) == ("task.completed", instance["id"], "P-001")
    assert sent["payload"]["bpmn_id"] == "submit" and sent["at"]
    assert dispatch.run_pass(database, SETTINGS) == 0  # delivered once
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_receiver_down_gets_everything_later_in_order_with_back_off(client, people, database, receiver, hosts):
    add_webhook(client, people, receiver.url)
    create_project(client, people)
    instance = start_sample(client, people)
    assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
    receiver.answer = 503
    start = utcnow()
    with time_machine.travel(start, tick=False) as clock:
        dispatch.run_pass(database, SETTINGS)  # the first event of each instance fails; the rest wait
        with database.session() as session:
            waits = session.scalars(select(WebhookDelivery).where(WebhookDelivery.attempts == 1)).all()
            assert waits and {d.last_status for d in waits} == {503}
            assert {round((d.next_attempt_at - start).total_seconds()) for d in waits} == {60}
        clock.shift(timedelta(seconds=61))
        dispatch.run_pass(database, SETTINGS)
        with database.session() as session:
            again = session.scalars(select(WebhookDelivery).where(WebhookDelivery.attempts == 2)).all()
            assert {round((d.next_attempt_at - utcnow()).total_seconds()) for d in again} == {120}  # doubled
        receiver.answer = 200
        clock.shift(timedelta(seconds=121))
        dispatch.run_pass(database, SETTINGS)
    with database.session() as session:
        events = session.scalars(select(Event.id).where(Event.instance_id == instance["id"]).order_by(Event.id)).all()
    got = [b["event_id"] for b in receiver.bodies() if b["instance_id"] == instance["id"]]
    assert got == list(events)  # every event of the instance, once, in order


def test_a_dead_delivery_is_replayed_with_the_same_id(client, people, database, receiver, hosts):
    webhook = add_webhook(client, people, receiver.url, ["instance.started"]).json
    create_project(client, people)
    start_sample(client, people)
    receiver.answer = 500
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(SETTINGS.attempts):
            dispatch.run_pass(database, SETTINGS)
            clock.shift(timedelta(hours=2))
    deliveries = client.get(f"/api/webhooks/{webhook['id']}/deliveries", headers=people.auth("admin")).json
    ((dead,),) = [deliveries]
    assert (dead["status"], dead["attempts"], dead["last_status"]) == ("dead", SETTINGS.attempts, 500)
    receiver.answer = 200
    replayed = client.post(f"/api/webhooks/deliveries/{dead['delivery_id']}/replay", headers=people.auth("admin"))
    assert replayed.status_code == 200 and replayed.json["status"] == "pending"
    dispatch.run_pass(database, SETTINGS)
    ((headers, _),) = receiver.received
    assert headers["X-Approvals-Delivery"] == dead["delivery_id"]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hook",
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "http://user:pw@127.0.0.1/x",
        "http://10.0.0.1/",
    ],
)
def test_only_http_urls_on_allowed_hosts_are_accepted(client, people, hosts, url):
    refused = add_webhook(client, people, url)
    assert refused.status_code == 422 and "url" in refused.json["errors"]["json"]
    assert client.get("/api/webhooks", headers=people.auth("admin")).json == []


def test_a_redirect_is_not_followed(client, people, database, receiver, hosts):
    add_webhook(client, people, receiver.url, ["instance.started"])
    receiver.answer, receiver.location = 302, "http://169.254.169.254/latest/meta-data"
    create_project(client, people)
    start_sample(client, people)
    dispatch.run_pass(database, SETTINGS)
    with database.session() as session:
        (delivery,) = session.scalars(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.last_status) == ("pending", 302)  # a failure, tried again later


def test_an_agencys_webhook_does_not_get_what_other_agencies_wrote(client, people, database, receiver, hosts):
    add_webhook(client, people, receiver.url, ["task.completed"], agency="DRC")
    add_webhook(client, people, receiver.url + "?all", ["task.completed"])  # no agency: everything
    create_project(client, people)
    instance = start_sample(client, people)
    assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
    review = open_task(client, people, "pnr", "review_planning")
    said = {"opinion": "disagree", "comments": "不符合规划"}
    assert complete(client, people, "pnr", review["id"], said, opinion="不符合规划").status_code == 200
    dispatch.run_pass(database, SETTINGS)
    seen = [b["payload"] for b in receiver.bodies() if b["payload"].get("bpmn_id") == "review_planning"]
    assert sorted("opinion" in p and "data" in p for p in seen) == [False, True]
    assert next(p for p in seen if "opinion" in p)["opinion"] == "不符合规划"


def test_only_admins_manage_webhooks(client, people, receiver, hosts):
    assert add_webhook(client, people, receiver.url).status_code == 201
    for username in ("hq", "owner", "observer"):
        assert client.get("/api/webhooks", headers=people.auth(username)).status_code == 403
    webhook = client.get("/api/webhooks", headers=people.auth("admin")).json[0]
    assert client.delete(f"/api/webhooks/{webhook['id']}", headers=people.auth("owner")).status_code == 403
    assert client.delete(f"/api/webhooks/{webhook['id']}", headers=people.auth("admin")).status_code == 204
    assert client.get("/api/webhooks", headers=people.auth("admin")).json == []


def many_events(database, instances: int, per_instance: int) -> list[tuple[int, int]]:
    """(instance id, event id) of ``per_instance`` comments on each of ``instances`` new instances."""
    from approvals.services import events as audit
    from tests.factories import start, user

    made = []
    with database.session() as session:
        admin = user(session, "admin")
        for n in range(instances):
            instance, _ = start(session, "sample_review", code=f"P-{n}")
            for _ in range(per_instance):
                made.append((instance.id, audit.record(session, "comment.added", admin, instance=instance)))
        return made


def delivered_in_order(receiver: Receiver, made: list[tuple[int, int]]) -> None:
    """Every event arrived, a repeat only under its first delivery id, and per instance in order."""
    first: dict[int, str] = {}
    for headers, body in receiver.received:
        event = json.loads(body)["event_id"]
        assert first.setdefault(event, headers["X-Approvals-Delivery"]) == headers["X-Approvals-Delivery"]
    assert set(first) >= {event for _, event in made}
    for instance_id in {i for i, _ in made}:
        got = [json.loads(b)["event_id"] for _, b in receiver.received if json.loads(b)["instance_id"] == instance_id]
        firsts = list(dict.fromkeys(got))  # the order of first arrival
        assert firsts == sorted(firsts), instance_id


def test_three_dispatchers_deliver_each_event_in_order_per_instance(client, people, database, receiver, hosts):
    add_webhook(client, people, receiver.url, ["comment.added"])
    made = many_events(database, instances=10, per_instance=100)  # 1 000 events
    threads = [threading.Thread(target=dispatch.run_pass, args=(database, SETTINGS)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dispatch.run_pass(database, SETTINGS)  # what a dispatcher that finished early left waiting
    delivered_in_order(receiver, made)
    assert len(receiver.received) == len(made)  # nobody crashed: no repeats either


def test_a_dispatcher_killed_mid_batch_loses_nothing(client, people, database, database_url, data_dir, receiver, hosts):
    import os
    import signal
    import subprocess
    import sys
    import time

    add_webhook(client, people, receiver.url, ["comment.added"])
    made = many_events(database, instances=3, per_instance=20)
    slow = receiver.server.RequestHandlerClass.do_POST

    def do_post(handler):  # a slow receiver, so the kill lands inside a batch
        time.sleep(0.05)
        slow(handler)

    receiver.server.RequestHandlerClass.do_POST = do_post
    env = {**os.environ, "APPROVALS_DATABASE_URL": database_url, "APPROVALS_WEBHOOK_HOSTS": "127.0.0.1"}
    env["APPROVALS_DATA_DIR"] = str(data_dir)
    worker = subprocess.Popen([sys.executable, "-m", "approvals.cli", "worker", "--once"], env=env)
    deadline = time.monotonic() + 60
    while len(receiver.received) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert 5 <= len(receiver.received) < len(made)  # killed part way through
    receiver.server.RequestHandlerClass.do_POST = slow
    dispatch.run_pass(database, SETTINGS)
    delivered_in_order(receiver, made)
