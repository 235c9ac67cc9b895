"""Crash safety: `approvals serve` and `approvals worker` killed with SIGKILL under load, then restarted.

Nothing a client saw acknowledged may be lost, nothing may be applied twice, and no instance may be
left half-applied (its open task rows must be exactly the engine's ready steps in its saved state).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import requests
import time_machine
from sqlalchemy import func, select

from approvals.models import Event, ProcessInstance, Task, utcnow
from approvals.services import definitions, instances, projects, tasks, users
from approvals.services.definitions import runtime_of
from tests.conftest import publish_file
from tests.helpers import APPROVAL, SUBMISSION
from tests.processes import Process, Server

DATA = Path(__file__).parent.parent / "data"
CLIENTS = 6
KILLS = 4
ANSWERS = {
    "submit": ("hq", SUBMISSION),
    "review_planning": ("pnr", {"opinion": "agree"}),
    "review_water": ("water", {"opinion": "agree"}),
    "decide": ("drc", APPROVAL),
}
rng = random.Random(20261129)  # noqa: S311 - kill timings, not secrets


class LoadClient(threading.Thread):
    """Starts instances of the sample model in its own project and works them to the end, retrying
    through outages with an Idempotency-Key per request, as a careful integrating system would."""

    def __init__(self, server: Server, people, code: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.server, self.people, self.code, self.stop = server, people, code, stop
        self.acknowledged: list[int] = []  # task ids whose completion got a 200
        self.started: list[int] = []
        self.finished_at: list[float] = []
        self.errors: list[str] = []

    def post(self, path: str, body: dict, user: str, key: str):
        """POST until the server answers (it may be down or restarting)."""
        while True:
            try:
                return requests.post(
                    self.server.base + path,
                    json=body,
                    timeout=10,
                    headers={**self.people.auth(user), "Idempotency-Key": key},
                )
            except requests.RequestException:
                time.sleep(0.1)

    def get(self, path: str, user: str):
        while True:
            try:
                return requests.get(self.server.base + path, timeout=10, headers=self.people.auth(user)).json()
            except (requests.RequestException, ValueError):
                time.sleep(0.1)

    def run(self):
        while not self.stop.is_set():
            started = self.post(
                f"/api/projects/{self.code}/instances",
                {"process_key": "sample_review"},
                "hq",
                f"start-{self.code}-{len(self.started)}",
            )
            if started.status_code != 201:
                self.errors.append(f"start: {started.status_code} {started.text[:200]}")
                return
            instance_id = started.json()["id"]
            self.started.append(instance_id)
            while True:
                state = self.get(f"/api/instances/{instance_id}", "hq")
                if state["status"] != "running":
                    break
                for task in state["open_tasks"]:
                    user, data = ANSWERS[task["bpmn_id"]]
                    done = self.post(
                        f"/api/tasks/{task['id']}/complete", {"data": data}, user, f"complete-{task['id']}"
                    )
                    if done.status_code == 200:
                        self.acknowledged.append(task["id"])
                    elif done.status_code != 409:  # 409: a parallel step's completion moved on first
                        self.errors.append(f"complete {task['bpmn_id']}: {done.status_code} {done.text[:200]}")
            if state["status"] != "completed":
                self.errors.append(f"instance {instance_id} ended {state['status']}")
            self.finished_at.append(time.monotonic())


def consistent(database) -> list[str]:
    """Instances whose open step rows differ from the ready steps of their saved state."""
    wrong = []
    with database.session() as session:
        for instance in session.scalars(select(ProcessInstance)):
            runtime = runtime_of(session, instance.definition)
            ready = {s.task_id for s in runtime.ready_steps(runtime.load(instance.state))}
            rows = {t.spiff_task_id for t in instances.open_tasks(session, instance.id, kind="step")}
            if ready != rows:
                wrong.append(f"instance {instance.id}: engine {ready} rows {rows}")
    return wrong


def test_serve_killed_under_load_loses_nothing(database_url, database, people, capsys):
    publish_file(database)
    with database.session() as session:
        hq = users.get_user(session, "hq")
        for n in range(CLIENTS):
            projects.create_project(session, projects.NewProject(code=f"K-{n}", name="断电测试"), hq)
    server = Server(database_url, workers=2).start()
    stop = threading.Event()
    clients = [LoadClient(server, people, f"K-{n}", stop) for n in range(CLIENTS)]
    try:
        for client in clients:
            client.start()
        restarted = []
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.6, 1.5))
            server.kill()
            server.start()
            restarted.append(time.monotonic())
        time.sleep(3)  # the load goes on after the last restart
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=120)
        server.stop()

    assert not [e for c in clients for e in c.errors]
    acknowledged = [t for c in clients for t in c.acknowledged]
    with database.session() as session:
        completed_events = Counter(session.scalars(select(Event.task_id).where(Event.type == "task.completed")))
        states = dict(session.execute(select(Task.id, Task.state).where(Task.id.in_(acknowledged))).all())
        per_project = dict(
            session.execute(select(ProcessInstance.project_id, func.count()).group_by(ProcessInstance.project_id)).all()
        )
    # Every acknowledged completion is stored, with exactly one audit event; nothing was done twice.
    assert all(states.get(t) == "completed" for t in acknowledged)
    assert all(completed_events[t] == 1 for t in acknowledged)
    assert max(completed_events.values()) == 1
    # Every instance a client started was started once (its retries were replays), and is whole.
    assert sorted(per_project.values()) == sorted(len(c.started) for c in clients)
    assert consistent(database) == []
    # Each client finished instances after the last restart: the load went on.
    assert all(any(t > restarted[-1] for t in c.finished_at) for c in clients)
    with capsys.disabled():
        print(
            f"\ncrash safety ({database_url.split(':')[0]}): {KILLS} SIGKILLs of serve, "
            f"{len(acknowledged)} acknowledged completions, "
            f"{sum(len(c.started) for c in clients)} instances, none lost or doubled"
        )


def test_timer_workers_killed_while_firing_fire_each_timer_once(database_url, database, people, capsys):
    count = 300
    with database.session() as session:
        definition, _ = definitions.publish(session, (DATA / "timer_followup.bpmn").read_bytes(), {}, None)
        key = definition.key
        hq = users.get_user(session, "hq")
        projects.create_project(session, projects.NewProject(code="T-1", name="定时器"), hq)
    # Submitted three days ago: each instance's two-day timer is due now.
    with time_machine.travel(utcnow() - timedelta(days=3), tick=False), database.session() as session:
        for _ in range(count):
            started, _ = instances.start_instance(session, "T-1", key, {}, hq)
            tasks.complete_task(session, instances.open_tasks(session, started.id)[0].id, {}, hq)

    def progress() -> tuple[int, int]:
        with database.session(read_only=True) as session:  # never waits for the workers' write lock
            fired = session.scalar(select(func.count()).where(Event.type == "timer.fired"))
            due = session.scalar(select(func.count()).where(ProcessInstance.next_timer_at.is_not(None)))
            return fired, due

    workers = [Process(database_url, "worker", "--interval", "0.1").start() for _ in range(2)]
    kills = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            fired, due = progress()
            if not due:
                break
            if kills < KILLS and fired > kills * count // (2 * KILLS):  # firing is under way: crash
                for worker in workers:  # both at once, as when the machine goes down
                    worker.kill()
                workers = [Process(database_url, "worker", "--interval", "0.1").start() for _ in workers]
                kills += 1
            time.sleep(0.02)
    finally:
        for worker in workers:
            worker.stop()

    with database.session() as session:
        fired = Counter(session.scalars(select(Event.instance_id).where(Event.type == "timer.fired")))
        followups = Counter(session.scalars(select(Task.instance_id).where(Task.bpmn_id == "followup")))
    assert kills == KILLS  # each crash hit the workers while timers were still due
    assert len(fired) == count and set(fired.values()) == {1}  # none lost, none fired twice
    assert len(followups) == count and set(followups.values()) == {1}
    assert consistent(database) == []
    with capsys.disabled():
        print(
            f"\ncrash safety ({database_url.split(':')[0]}): {kills} SIGKILLs of 2 timer workers while firing, "
            f"{count} timers fired once each"
        )
