"""What a diagram on a page shows: the BPMN of the process a step belongs to, and which of its
elements are finished, active and overdue (drawn by bpmn-js in the browser)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..models import Task, TaskState, utcnow
from ..services.definitions import diagram_of, diagram_xml
from ..services.status import InstanceProgress


def _markers(steps: list[Task], now: datetime) -> dict[str, list[str]]:
    active = [t for t in steps if t.is_open and t.is_step]
    return {
        "finished": sorted(
            {t.bpmn_id for t in steps if t.state == TaskState.COMPLETED and t.is_step} - {t.bpmn_id for t in active}
        ),
        "active": sorted({t.bpmn_id for t in active}),
        "overdue": sorted({t.bpmn_id for t in active if t.overdue_at(now)}),
    }


def step_diagram(session: Session, task: Task) -> dict[str, Any]:
    definition = diagram_of(session, task.instance.definition, task.stage)
    same_stage = [t for t in task.instance.tasks if t.stage == task.stage]
    markers = _markers(same_stage, utcnow())
    markers["active"] = [task.bpmn_id]  # this step is the one the page is about
    return {"xml": diagram_xml(definition), "title": task.stage, **markers}


def instance_diagrams(session: Session, found: InstanceProgress, now: datetime) -> list[dict[str, Any]]:
    """One diagram per stage the instance has steps in, those with open steps first."""
    steps = [*found.open_tasks, *found.completed_tasks]
    stages: dict[str, list[Task]] = {}
    for step in steps:
        stages.setdefault(step.stage, []).append(step)
    if not stages:
        stages[found.instance.definition.name] = []
    ordered = sorted(stages.items(), key=lambda item: not any(t.is_open for t in item[1]))
    definition = found.instance.definition
    return [
        {"xml": diagram_xml(diagram_of(session, definition, stage)), "title": stage, **_markers(rows, now)}
        for stage, rows in ordered
    ]
