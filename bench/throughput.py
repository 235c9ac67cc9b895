"""`approvals serve` (gunicorn) on PostgreSQL under concurrent HTTP clients, each working its own
instances from start to end: the server's CPU per completion (gunicorn workers and PostgreSQL
backends, read from /proc, so clients on the same cores do not count) against the CPU of the same
work done in-process through the services in the same run; latency percentiles (no convoy: p99
within 4× p50); completions per second against the raw engine's rate. Correctness: the audit
trail must hold exactly the completions the clients were told succeeded. The same requests are also
sent through Flask's test client (the whole request path, no server, no socket; the CPU inside the
app counted, not the test client's own), and from one client alone to the server and to the same
server with one worker, so the HTTP side's excess splits into the framework's part, the server's as
such, and what its other worker processes add.

The two sides take turns (``PHASES`` rounds of in-process work, then HTTP load with the clients
let go), so that the shared machine's drift falls on both alike: measured one after the other,
the same code gave 1.11x in one run and 1.71x in the next."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from sqlalchemy import func, select

from approvals.app import create_app
from approvals.engine import ENGINE_LOGGER
from approvals.models import Event
from approvals.observability import JsonFormatter, engine_level
from approvals.process_tuning import tune_process
from approvals.services import projects, users

from .common import STAFF, SUBMISSION, Table, free_port, fresh_database, launch, median_ms, percentile, stop_process
from .engine_overhead import raw_cycle_times

ANSWERS = {
    "submit": ("HQ", SUBMISSION),
    "review_planning": ("PNR", {"opinion": "agree"}),
    "review_water": ("WATER", {"opinion": "agree"}),
    "decide": ("DRC", {"decision": "approve", "approval_number": "深发改〔2026〕1号"}),
}


def _serve(url: str, workers: int, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`approvals serve` on a free port; (process, base URL) once it answers."""
    base = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "approvals.cli", "--database-url", url, "serve", "--bind", base[7:]]
    return launch([*command, "--workers", str(workers), "--threads", "4"], env, answers=base), base


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_process(wanted) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each process ``wanted(pid, pgrp, cmdline)`` picks."""
    used = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as line:
                cmdline = line.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if wanted(int(entry), int(fields[2]), cmdline):
            used[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return used


def _cpu_seconds(wanted) -> float:
    return sum(_cpu_by_process(wanted).values())


def _database_cpu() -> float:
    """The PostgreSQL backends serving the benchmark's database (not autovacuum's: its runs fall in
    whichever side's turn they happen to)."""
    return _cpu_seconds(
        lambda pid, pgrp, cmdline: (
            cmdline.startswith("postgres:") and "approvals_bench" in cmdline and "autovacuum" not in cmdline
        )
    )


def _cpu_while(work: Callable[[], int]) -> tuple[float, float, int]:
    """CPU seconds (this process, its database backends) and completions of ``work``, with the
    garbage collector set as in a server's worker (approvals/process_tuning.py)."""
    threshold = gc.get_threshold()
    tune_process()
    try:
        began = time.process_time(), _database_cpu()
        completions = work()
        return time.process_time() - began[0], _database_cpu() - began[1], completions
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _work_in_process(database, instances_worked: int, project: str = "B-1") -> int:
    """Work instances from start to end through the services as the clients do over HTTP (starts
    included); returns the completions."""
    from approvals.services import instances, tasks

    completions = 0
    for _ in range(instances_worked):
        with database.session() as session:
            _, open_rows = instances.start_instance(
                session, project, "sample_review", {}, users.get_user(session, STAFF["HQ"])
            )
            pending = [(row.id, row.bpmn_id) for row in open_rows]
        while pending:
            task_id, bpmn_id = pending[0]
            agency, data = ANSWERS[bpmn_id]
            with database.session() as session:
                _, open_rows = tasks.complete_task(session, task_id, data, users.get_user(session, STAFF[agency]))
                pending = [(row.id, row.bpmn_id) for row in open_rows]
            completions += 1
    return completions


def _work_without_server(client, auth: dict[str, dict[str, str]], instances_worked: int, project: str) -> int:
    """The clients' requests through Flask's test client: the whole request path (token check,
    webargs and marshmallow, the answer, the request log and metrics) but no server and no socket,
    so the HTTP side's excess splits into the framework's part and the server's."""
    completions = 0
    for _ in range(instances_worked):
        started = client.post(
            f"/api/projects/{project}/instances", json={"process_key": "sample_review"}, headers=auth["HQ"]
        )
        if started.status_code != 201:
            raise RuntimeError(f"start through the test client: {started.status_code} {started.get_data(as_text=True)}")
        open_tasks = started.get_json()["open_tasks"]
        while open_tasks:
            agency, data = ANSWERS[open_tasks[0]["bpmn_id"]]
            path = f"/api/tasks/{open_tasks[0]['id']}/complete"
            answer = client.post(path, json={"data": data}, headers=auth[agency])
            if answer.status_code != 200:
                raise RuntimeError(f"complete through the test client: {answer.status_code}")
            open_tasks = answer.get_json()["open_tasks"]
            completions += 1
    return completions


class _AppCpu:
    """The CPU spent inside the app's WSGI callable: a request as a server's worker runs it, without
    the test client's own work in the same process (building the request, reading the answer)."""

    def __init__(self, app: Any) -> None:
        self.seconds = 0.0
        self._inner = app.wsgi_app
        app.wsgi_app = self

    def __call__(self, environ: Any, start_response: Any) -> Any:
        began = time.process_time()
        try:
            return self._inner(environ, start_response)  # Flask's answer is built by now: its body is bytes
        finally:
            self.seconds += time.process_time() - began


@contextmanager
def _request_log_dropped() -> Iterator[None]:
    """The app's JSON request log written and dropped, as the server's is (its stderr goes nowhere),
    with the engine's own lines from warnings up, as ``configure_logging`` sets them."""
    root, engine = logging.getLogger(), logging.getLogger(ENGINE_LOGGER)
    with open(os.devnull, "w") as nowhere:
        handler = logging.StreamHandler(nowhere)
        handler.setFormatter(JsonFormatter())
        level, root.level = root.level, logging.INFO
        engine_before, engine.level = engine.level, engine_level(logging.INFO)
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            engine.setLevel(engine_before)


class Gate:
    """Lets the clients' requests through during an HTTP phase; ``close`` returns once none is in flight."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = self._stopped = False
        self._in_flight = 0

    def enter(self) -> bool:
        """Wait until the gate opens; False once the run is over."""
        with self._changed:
            self._changed.wait_for(lambda: self._open or self._stopped)
            self._in_flight += not self._stopped
            return not self._stopped

    def leave(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def open(self) -> None:
        with self._changed:
            self._open = True
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._open = False
            self._changed.wait_for(lambda: self._in_flight == 0)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()


def _client(
    base: str, tokens: dict[str, str], gate: Gate, latencies: list[float], done: Counter, errors: list[str]
) -> None:
    http = requests.Session()
    auth = {agency: {"Authorization": f"Bearer {token}"} for agency, token in tokens.items()}
    while gate.enter():
        try:
            started = http.post(
                f"{base}/api/projects/B-1/instances",
                json={"process_key": "sample_review"},
                headers=auth["HQ"],
                timeout=30,
            )
        finally:
            gate.leave()
        if started.status_code != 201:
            errors.append(f"start {started.status_code}")
            continue
        open_tasks = started.json()["open_tasks"]
        while open_tasks and gate.enter():
            task = open_tasks[0]
            agency, data = ANSWERS[task["bpmn_id"]]
            try:
                begin = time.perf_counter()
                answer = http.post(
                    f"{base}/api/tasks/{task['id']}/complete", json={"data": data}, headers=auth[agency], timeout=30
                )
                latencies.append(time.perf_counter() - begin)
            finally:
                gate.leave()
            if answer.status_code != 200:
                errors.append(f"complete {task['bpmn_id']}: {answer.status_code}")
                break
            done[task["id"]] += 1
            open_tasks = answer.json()["open_tasks"]


PHASES = 4  # turns of in-process work and HTTP load
IN_PROCESS = "B-IN"  # the project the in-process side works on


def run(table: Table, seconds: float = 20, clients: int = 20, workers: int = 4, instances: int = 100) -> None:
    # The raw rate is measured right before the load, as the machine's speed drifts (shared, noisy).
    raw_ms = median_ms(raw_cycle_times(300))
    with fresh_database("postgresql") as (database, url), tempfile.TemporaryDirectory() as data_dir:
        _work_in_process(database, 10)  # warm up
        with database.session() as session:
            # The in-process side works another project's instances: the clients' audit trail is B-1's.
            projects.create_project(
                session, projects.NewProject(code=IN_PROCESS, name="进程内"), users.get_user(session, "b_admin")
            )
            after = session.scalar(select(func.max(Event.id)))  # the load's events come after these
            tokens = {
                agency: users.issue_token(session, users.get_user(session, name), days=1)[0]
                for agency, name in STAFF.items()
            }
        process, base = _serve(url, workers)
        single, single_base = _serve(url, 1)  # the same server with one worker: what the other processes add
        auth = {agency: {"Authorization": f"Bearer {token}"} for agency, token in tokens.items()}
        app = create_app({"DATABASE_URL": url, "DATA_DIR": data_dir})
        app_cpu, client = _AppCpu(app), app.test_client()
        sides: dict[str, Callable[[], int]] = {  # the in-process sides, worked on a project of their own
            "in-process": lambda: _work_in_process(database, instances // PHASES, IN_PROCESS),
            "no server": lambda: _work_without_server(client, auth, instances // PHASES, IN_PROCESS),
        }
        with _request_log_dropped():
            _work_without_server(client, auth, 5, IN_PROCESS)  # warm up
        used = {side: [0.0, 0.0, 0] for side in sides}  # CPU in Python, in PostgreSQL; completions

        def workers_cpu() -> dict[int, float]:  # gunicorn's workers: its process group, the arbiter excepted
            return _cpu_by_process(lambda pid, pgrp, cmdline: pgrp == process.pid and pid != process.pid)

        def server_cpu(server: subprocess.Popen) -> tuple[float, float]:
            return _cpu_seconds(lambda pid, pgrp, cmdline: pgrp == server.pid), _database_cpu()

        def under_load(
            gate: Gate, latencies: list[float], length: float, server: subprocess.Popen = process
        ) -> tuple[float, float, list[float], float]:
            """``gate`` open for ``length`` seconds: the ``server``'s CPU (gunicorn, PostgreSQL), the
            latencies of the completions answered meanwhile, and the time it took."""
            before, started, cpu_before = len(latencies), time.perf_counter(), server_cpu(server)
            gate.open()
            time.sleep(length)
            gate.close()
            cpu_after = server_cpu(server)
            elapsed = time.perf_counter() - started
            return cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1], latencies[before:], elapsed

        # The clients, and one more that works alone (no other request in flight, so no contention
        # for the two cores): what a request costs the server as such; and one that works alone on
        # the one-worker server: what the other worker processes add to it.
        gate, latencies, done, errors = Gate(), [], Counter(), []
        lone_gate, lone_latencies, single_gate, single_latencies = Gate(), [], Gate(), []
        threads = [
            threading.Thread(target=_client, args=(base, tokens, gate, latencies, done, errors)) for _ in range(clients)
        ]
        threads.append(threading.Thread(target=_client, args=(base, tokens, lone_gate, lone_latencies, done, errors)))
        single_client = (single_base, tokens, single_gate, single_latencies, done, errors)
        threads.append(threading.Thread(target=_client, args=single_client))
        served = database_used = elapsed = lone_served = lone_database = single_served = single_database = 0.0
        measured: list[float] = []
        lone: list[float] = []
        single_answered: list[float] = []
        try:
            for thread in threads:
                thread.start()
            for warming in (gate, single_gate):  # warm up: workers load the model
                warming.open()
                time.sleep(2)
                warming.close()
            workers_before = workers_cpu()
            for _ in range(PHASES):
                for side, work in sides.items():
                    inside_app = app_cpu.seconds
                    with _request_log_dropped():
                        figures = _cpu_while(work)
                    if side == "no server":  # the app's part: the test client stands for the clients
                        figures = (app_cpu.seconds - inside_app, figures[1], figures[2])
                    used[side] = [total + more for total, more in zip(used[side], figures, strict=True)]
                python, backends, answered, _ = under_load(lone_gate, lone_latencies, seconds / PHASES / 2)
                lone_served, lone_database, lone = lone_served + python, lone_database + backends, lone + answered
                python, backends, answered, _ = under_load(single_gate, single_latencies, seconds / PHASES / 2, single)
                single_served, single_database = single_served + python, single_database + backends
                single_answered += answered
                python, backends, answered, took = under_load(gate, latencies, seconds / PHASES)
                served, database_used, measured = served + python, database_used + backends, measured + answered
                elapsed += took
            workers_after = workers_cpu()
        finally:
            for stopping in (gate, lone_gate, single_gate):
                stopping.stop()
            for thread in threads:
                thread.join(timeout=60)
            stop_process(process)
            stop_process(single)
        with database.session(read_only=True) as session:
            b1 = projects.get_project(session, "B-1").id
            completed_event = (Event.type == "task.completed") & (Event.id > after) & (Event.project_id == b1)
            recorded = Counter(session.scalars(select(Event.task_id).where(completed_event)))
            total = session.scalar(select(func.count()).where(completed_event))
    in_python, in_database = (seconds / used["in-process"][2] for seconds in used["in-process"][:2])
    in_process = in_python + in_database
    bare_python, bare_database = (seconds / used["no server"][2] for seconds in used["no server"][:2])
    over_http = (served + database_used) / len(measured)
    table.add(
        f"server CPU per HTTP completion ({workers} workers, {clients} clients) vs in-process",
        f"{over_http * 1000:.2f} ms vs {in_process * 1000:.2f} ms = {over_http / in_process:.2f}x (starts included)",
        "<= 1.3x",
        over_http / in_process <= 1.3,
    )
    table.add(
        "  of which gunicorn / PostgreSQL (ms per completion)",
        f"HTTP {served / len(measured) * 1000:.2f} / {database_used / len(measured) * 1000:.2f}; "
        f"in-process {in_python * 1000:.2f} / {in_database * 1000:.2f}",
    )
    bare, alone = bare_python + bare_database, (lone_served + lone_database) / len(lone)
    one_worker = (single_served + single_database) / len(single_answered)
    table.add(
        "  the same requests without a server (the app's CPU under Flask's test client) vs in-process",
        f"{bare * 1000:.2f} ms = {bare / in_process:.2f}x (Python {bare_python * 1000:.2f} / PostgreSQL "
        f"{bare_database * 1000:.2f})",
    )
    table.add(
        "  the same requests over HTTP from one client alone, to one worker (4 threads) vs in-process",
        f"{one_worker * 1000:.2f} ms = {one_worker / in_process:.2f}x (gunicorn "
        f"{single_served / len(single_answered) * 1000:.2f} / PostgreSQL "
        f"{single_database / len(single_answered) * 1000:.2f})",
    )
    table.add(
        f"  the same requests over HTTP from one client alone, to {workers} workers vs in-process",
        f"{alone * 1000:.2f} ms = {alone / in_process:.2f}x (gunicorn {lone_served / len(lone) * 1000:.2f} / "
        f"PostgreSQL {lone_database / len(lone) * 1000:.2f})",
    )
    table.add(
        "  so the HTTP side's excess over in-process, as multiples of it",
        f"the framework {(bare - in_process) / in_process:.2f}x, "
        f"the server as such {(one_worker - bare) / in_process:.2f}x, "
        f"{workers} worker processes instead of one {(alone - one_worker) / in_process:.2f}x, {clients} clients' "
        f"contention for the cores {(over_http - alone) / in_process:.2f}x",
    )
    spread = sorted(workers_after[pid] - workers_before.get(pid, 0.0) for pid in workers_after)
    table.add(
        "  gunicorn workers' CPU during the load (s), least to most busy",
        " / ".join(f"{seconds:.1f}" for seconds in spread),
    )
    p50, p95, p99 = (percentile(measured, p) * 1000 for p in (50, 95, 99))
    table.add(
        f"HTTP completion latency p50 / p95 / p99, {clients} clients",
        f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms: p99 = {p99 / p50:.1f}x p50",
        "p99 <= 4x p50",
        p99 <= 4 * p50,
    )
    rate, raw_rate = len(measured) / elapsed, 1000 / raw_ms
    table.add(
        f"HTTP completions/s, {workers} gunicorn workers, {clients} clients, PostgreSQL",
        f"{rate:.0f}/s = {rate / raw_rate:.0%} of raw engine {raw_rate:.0f}/s (clients share the 2 cores)",
    )
    lost = [t for t in done if recorded[t] != 1]
    table.add(
        "load run: errors, lost or doubled completions",
        f"{len(errors)} errors; {len(done)} acknowledged, {total} recorded, {len(lost)} mismatched",
        "0",
        not errors and not lost and total == sum(done.values()),
    )
