"""Drive a published model through the service layer, one step at a time, with the clock moved."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine

from approvals.db import Database
from approvals.demo import attach_sample_materials
from approvals.models import Task
from approvals.services import instances, messages, projects, send_back, tasks, timers, users

SHENZHEN = ZoneInfo("Asia/Shanghai")


def morning(day: date) -> datetime:
    """10:00 in Shenzhen on ``day``."""
    return datetime.combine(day, time(10), tzinfo=SHENZHEN).astimezone(UTC)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=SHENZHEN).astimezone(UTC)


class Scenario:
    """One instance of ``process_key`` for a fresh project, worked by one staff member per agency."""

    def __init__(
        self,
        database: Database,
        process_key: str,
        *,
        funding_level: str = "municipal",
        code: str = "S-1",
        data: dict | None = None,
        on: date = date(2026, 9, 21),
    ):
        self.database = database
        self.code = code
        self.today = on
        with self._at(), database.session() as session:
            admin = users.get_user(session, "scenario_admin") or users.create_user(
                session, username="scenario_admin", password="pw-12345", agency_code="HQ", role="admin"
            )
            projects.create_project(
                session, projects.NewProject(code=code, name="场景项目", funding_level=funding_level), admin
            )
            self.instance_id = instances.start_instance(session, code, process_key, data or {}, admin)[0].id

    def _at(self):
        return time_machine.travel(morning(self.today), tick=False)

    def _worker(self, session, agency: str):
        name = f"scenario_{agency.lower()}"
        return users.get_user(session, name) or users.create_user(
            session, username=name, password="pw-12345", agency_code=agency, role="staff"
        )

    def open_steps(self) -> list[tuple[str, str]]:
        """(bpmn_id, agency) of every open step, sorted."""
        with self.database.session() as session:
            return sorted((t.bpmn_id, t.agency_code) for t in instances.open_tasks(session, self.instance_id))

    def step(self, bpmn_id: str) -> Task:
        with self.database.session() as session:
            return next(t for t in instances.open_tasks(session, self.instance_id) if t.bpmn_id == bpmn_id)

    def do(
        self,
        bpmn_id: str,
        data: dict | None = None,
        *,
        on: date | None = None,
        opinion: str | None = "经审查，意见如表。",
    ) -> None:
        """Complete the open step ``bpmn_id`` on day ``on`` (default: the scenario's current day),
        with a written opinion as a reviewer gives one (required to return or refuse)."""
        self.today = on or self.today
        with self._at(), self.database.session() as session:
            task = next((t for t in instances.open_tasks(session, self.instance_id) if t.bpmn_id == bpmn_id), None)
            assert task is not None, f"{bpmn_id} is not open; open: {self.open_steps()}"
            worker = self._worker(session, task.agency_code)
            attach_sample_materials(session, task, worker, data or {})
            tasks.complete_task(session, task.id, data or {}, worker, opinion=opinion)

    def send_back(self, bpmn_id: str, to: str, reason: str = "材料不齐，退回补充", *, on: date | None = None) -> None:
        """The agency holding the open step ``bpmn_id`` sends the instance back to step ``to`` (退回)."""
        self.today = on or self.today
        with self._at(), self.database.session() as session:
            task = next(t for t in instances.open_tasks(session, self.instance_id) if t.bpmn_id == bpmn_id)
            send_back.send_back(session, task.id, to, reason, self._worker(session, task.agency_code))

    def message(self, name: str, data: dict, *, sender: str, on: date | None = None) -> None:
        """Agency ``sender``'s system delivers message ``name`` to the scenario's project."""
        self.today = on or self.today
        with self._at(), self.database.session() as session:
            system = self._worker(session, sender)
            messages.deliver(session, system, name=name, project_code=self.code, data=data)

    def fire_timers(self, on: date) -> int:
        """The worker's pass on day ``on`` (10:00 in Shenzhen): due timers fire; how many instances it handled."""
        self.today = on
        with self._at():
            return timers.run_due(self.database)

    def finished(self) -> list[Task]:
        with self.database.session() as session:
            rows = session.query(Task).filter(Task.instance_id == self.instance_id, Task.state == "completed")
            return sorted(rows, key=lambda t: t.id)

    def status(self) -> str:
        with self.database.session() as session:
            return instances.get_instance(session, self.instance_id).status

    def result(self) -> str | None:
        """The end event the finished instance reached."""
        with self.database.session() as session:
            return instances.get_instance(session, self.instance_id).result


def days(n: int) -> timedelta:
    return timedelta(days=n)
