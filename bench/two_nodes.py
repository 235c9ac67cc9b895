"""Issue 19, target 5: a second node. Two `approvals serve` processes on their own ports behind
HAProxy (round robin, no stickiness: consecutive requests of one client land on either node), and
two timer workers, all on one PostgreSQL and one materials directory. Clients work instances over
HAProxy while timers come due; a person signs in through the proxy and keeps using the site as
requests move between nodes; a file uploaded through one node is downloaded through the other.

What must hold: no errors, every acknowledged completion recorded once, every timer fired once,
the session valid on both nodes, the file the same from both. On two cores this shows correctness,
not speed-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests
from sqlalchemy import func, select

from approvals.demo import sample_pdf
from approvals.models import Event
from approvals.services import definitions, users

from .common import PASSWORD, STAFF, Table, csrf_token_in, free_port, fresh_database, launch, stop_process
from .throughput import Gate, _client, _serve

TIMERS = 40
TIMER_MODEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_bench_timer"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="bench_timer" name="bench timer" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="l_hq" name="HQ"><bpmn:flowNodeRef>followup</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"PT3S"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="followup" name="follow-up">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="followup"/>
    <bpmn:sequenceFlow id="f3" sourceRef="followup" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
HAPROXY = """global
    maxconn 1024
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend approvals
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    http-response set-header X-Served-By %[srv_name]
    server a 127.0.0.1:{a}
    server b 127.0.0.1:{b}
"""


def _haproxy(executable: str, a: str, b: str, folder: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = Path(folder) / "haproxy.cfg"
    config.write_text(HAPROXY.format(port=port, a=a.rsplit(":", 1)[1], b=b.rsplit(":", 1)[1]))
    base = f"http://127.0.0.1:{port}"
    return launch([executable, "-db", "-f", str(config)], answers=base), base


def _session_moves(base: str, password: str) -> tuple[bool, set[str]]:
    """A person signs in through the proxy and opens the inbox ten times: (every page served
    signed in, the nodes that served them)."""
    browser = requests.Session()
    page = browser.get(base + "/login", timeout=10)
    token = csrf_token_in(page.text)
    signed = browser.post(
        base + "/login",
        data={"username": STAFF["PNR"], "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    nodes, ok = (
        {page.headers.get("X-Served-By", "?"), signed.headers.get("X-Served-By", "?")},
        signed.status_code == 302,
    )
    for _ in range(10):
        inbox = browser.get(base + "/tasks", allow_redirects=False, timeout=10)
        ok = ok and inbox.status_code == 200
        nodes.add(inbox.headers.get("X-Served-By", "?"))
    return ok, nodes


def _file_on_both(base: str, tokens: dict[str, str]) -> tuple[bool, set[str]]:
    """Upload to a step through one node, download it through both: the same bytes."""
    hq = {"Authorization": f"Bearer {tokens['HQ']}"}
    started = requests.post(
        base + "/api/projects/B-1/instances", json={"process_key": "sample_review"}, headers=hq, timeout=30
    )
    task_id = started.json()["open_tasks"][0]["id"]
    pdf = sample_pdf("two nodes")
    upload = requests.post(
        f"{base}/api/tasks/{task_id}/materials",
        files={"file": ("report.pdf", pdf, "application/pdf")},
        headers=hq,
        timeout=30,
    )
    nodes, same = {upload.headers.get("X-Served-By", "?")}, upload.status_code == 201
    # Round robin alternates over everyone's requests, so a few reads may all land on one node:
    # read until both nodes have served the file (at most 20 times).
    for _ in range(20):
        if not same or {"a", "b"} <= nodes:
            break
        got = requests.get(f"{base}/api/materials/{upload.json()['id']}", headers=hq, timeout=10)
        same = got.status_code == 200 and got.content == pdf
        nodes.add(got.headers.get("X-Served-By", "?"))
    return same, nodes


def run(table: Table, seconds: float = 15, clients: int = 8) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        table.add("two nodes behind HAProxy", "haproxy is not installed (apt-get install haproxy)", "runs", False)
        return
    with fresh_database("postgresql") as (database, url), tempfile.TemporaryDirectory() as folder:
        with database.session() as session:
            admin = users.get_user(session, "b_admin")
            definitions.publish(session, TIMER_MODEL, {}, admin)
            tokens = {
                agency: users.issue_token(session, users.get_user(session, name), days=1)[0]
                for agency, name in STAFF.items()
            }
        # What the nodes must share: the database, the secret that signs sessions, the files.
        env = {**os.environ, "APPROVALS_SECRET_KEY": "bench-two-nodes", "APPROVALS_DATA_DIR": folder}
        processes = []
        try:
            node_a, base_a = _serve(url, 2, env)
            node_b, base_b = _serve(url, 2, env)
            processes += [node_a, node_b]
            for _ in range(2):
                command = [sys.executable, "-m", "approvals.cli", "--database-url", url, "worker", "--interval", "0.5"]
                processes.append(launch(command, env))
            proxy, base = _haproxy(haproxy, base_a, base_b, folder)
            processes.append(proxy)
            hq = {"Authorization": f"Bearer {tokens['HQ']}"}
            timed = [
                requests.post(
                    base + "/api/projects/B-1/instances", json={"process_key": "bench_timer"}, headers=hq, timeout=30
                )
                for _ in range(TIMERS)
            ]
            timer_ids = [r.json()["id"] for r in timed if r.status_code == 201]
            gate, latencies, done, errors = Gate(), [], Counter(), []
            gate.open()
            threads = [
                threading.Thread(target=_client, args=(base, tokens, gate, latencies, done, errors))
                for _ in range(clients)
            ]
            for thread in threads:
                thread.start()
            signed_in, session_nodes = _session_moves(base, PASSWORD)
            same_file, file_nodes = _file_on_both(base, tokens)
            time.sleep(seconds)
            gate.stop()
            for thread in threads:
                thread.join(timeout=60)
            deadline = time.monotonic() + 30  # the timers came due during the load; the workers finish them
            while time.monotonic() < deadline and _fired(database, timer_ids) != len(timer_ids):
                time.sleep(0.5)
        finally:
            for process in processes:
                stop_process(process)
        with database.session(read_only=True) as session:
            recorded = Counter(session.scalars(select(Event.task_id).where(Event.type == "task.completed")))
            fired = Counter(
                session.scalars(
                    select(Event.instance_id).where(Event.type == "timer.fired", Event.instance_id.in_(timer_ids))
                )
            )
    lost = [t for t in done if recorded[t] != 1]
    table.add(
        "two nodes: load over HAProxy, errors, lost or doubled completions",
        f"{len(errors)} errors; {sum(done.values())} acknowledged, {sum(recorded.values())} recorded, "
        f"{len(lost)} mismatched",
        "0",
        not errors and not lost and sum(recorded.values()) == sum(done.values()),
    )
    once = [i for i in timer_ids if fired[i] == 1]
    table.add(
        "two nodes: timers, two workers",
        f"{len(once)} of {TIMERS} fired exactly once ({len(timer_ids)} started)",
        "all once",
        len(once) == TIMERS,
    )
    table.add(
        "two nodes: a signed-in session as requests move between nodes",
        f"{'every page signed in' if signed_in else 'signed out on the way'}, served by {sorted(session_nodes)}",
        "both nodes",
        signed_in and {"a", "b"} <= session_nodes,
    )
    table.add(
        "two nodes: a file uploaded through one, read through both",
        f"{'the same bytes' if same_file else 'differs or missing'}, served by {sorted(file_nodes)}",
        "both nodes",
        same_file and {"a", "b"} <= file_nodes,
    )


def _fired(database, instance_ids: list[int]) -> int:
    with database.session(read_only=True) as session:
        return session.scalar(
            select(func.count(func.distinct(Event.instance_id))).where(
                Event.type == "timer.fired", Event.instance_id.in_(instance_ids)
            )
        )
