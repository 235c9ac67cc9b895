"""`approvals serve` (gunicorn) on PostgreSQL under concurrent HTTP clients that start instances
and work them to the end; completions per second and latency, against the raw engine's cycles per
second measured in the same run. Correctness: the audit trail must hold exactly the completions
the clients were told succeeded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import requests
from sqlalchemy import func, select

from approvals.models import Event
from approvals.services import users

from .common import STAFF, SUBMISSION, Table, fresh_database, median_ms, percentile
from .engine_overhead import raw_cycle_times

ANSWERS = {
    "submit": ("HQ", SUBMISSION),
    "review_planning": ("PNR", {"opinion": "agree"}),
    "review_water": ("WATER", {"opinion": "agree"}),
    "decide": ("DRC", {"decision": "approve", "approval_number": "深发改〔2026〕1号"}),
}


def _serve(url: str, workers: int):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "approvals.cli",
            "--database-url",
            url,
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "4",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                return process, base
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def _client(
    base: str, tokens: dict[str, str], stop: threading.Event, latencies: list[float], done: Counter, errors: list[str]
) -> None:
    http = requests.Session()
    auth = {agency: {"Authorization": f"Bearer {token}"} for agency, token in tokens.items()}
    while not stop.is_set():
        started = http.post(
            f"{base}/api/projects/B-1/instances", json={"process_key": "sample_review"}, headers=auth["HQ"], timeout=30
        )
        if started.status_code != 201:
            errors.append(f"start {started.status_code}")
            continue
        open_tasks = started.json()["open_tasks"]
        while open_tasks and not stop.is_set():
            task = open_tasks[0]
            agency, data = ANSWERS[task["bpmn_id"]]
            begin = time.perf_counter()
            answer = http.post(
                f"{base}/api/tasks/{task['id']}/complete", json={"data": data}, headers=auth[agency], timeout=30
            )
            latencies.append(time.perf_counter() - begin)
            if answer.status_code != 200:
                errors.append(f"complete {task['bpmn_id']}: {answer.status_code}")
                break
            done[task["id"]] += 1
            open_tasks = answer.json()["open_tasks"]


def run(table: Table, seconds: float = 20, clients: int = 12, workers: int = 4) -> None:
    # The raw rate is measured right before the load, as the machine's speed drifts (shared, noisy).
    raw_ms = median_ms(raw_cycle_times(300))
    with fresh_database("postgresql") as (database, url):
        with database.session() as session:
            tokens = {
                agency: users.issue_token(session, users.get_user(session, name), days=1)[0]
                for agency, name in STAFF.items()
            }
        process, base = _serve(url, workers)
        stop, latencies, done, errors = threading.Event(), [], Counter(), []
        threads = [
            threading.Thread(target=_client, args=(base, tokens, stop, latencies, done, errors)) for _ in range(clients)
        ]
        try:
            for thread in threads:
                thread.start()
            time.sleep(2)  # warm up: workers load the model
            before, started = len(latencies), time.perf_counter()
            time.sleep(seconds)
            measured, elapsed = latencies[before:], time.perf_counter() - started
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        with database.session(read_only=True) as session:
            recorded = Counter(session.scalars(select(Event.task_id).where(Event.type == "task.completed")))
            total = session.scalar(select(func.count()).where(Event.type == "task.completed"))
    rate = len(measured) / elapsed
    raw_rate = 1000 / raw_ms
    table.add(
        f"HTTP completions/s, {workers} gunicorn workers, {clients} clients, PostgreSQL",
        f"{rate:.0f}/s = {rate / raw_rate:.0%} of raw engine {raw_rate:.0f}/s",
        ">= 40% of raw",
        rate / raw_rate >= 0.4,
    )
    table.add(
        "HTTP completion latency p50 / p95 / p99",
        f"{percentile(measured, 50) * 1000:.1f} / {percentile(measured, 95) * 1000:.1f} / "
        f"{percentile(measured, 99) * 1000:.1f} ms",
    )
    lost = [t for t in done if recorded[t] != 1]
    table.add(
        "load run: errors, lost or doubled completions",
        f"{len(errors)} errors; {len(done)} acknowledged, {total} recorded, {len(lost)} mismatched",
        "0",
        not errors and not lost and total == sum(done.values()),
    )
