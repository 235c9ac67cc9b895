"""Overdue steps are escalated once: a reminder for the agency's lead, and a line in the audit trail.

The reminder is a work item of its own (kind "reminder"); the overdue step stays where it is, as a
non-interrupting escalation would leave it. It closes by itself when the step is done.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Database
from ..models import Role, Task, TaskKind, TaskState, User, utcnow
from . import events
from .instance_change import changing_instance


def _lead_of(session: Session, agency: str) -> User | None:
    return session.scalar(
        select(User).where(User.agency_code == agency, User.role == Role.LEAD, User.active).order_by(User.id).limit(1)
    )


def overdue_steps(session: Session, now: datetime, limit: int = 500) -> list[int]:
    return list(
        session.scalars(
            select(Task.id)
            .where(Task.kind == TaskKind.STEP, Task.overdue_at(now), Task.escalated_at.is_(None))
            .order_by(Task.due_at, Task.id)
            .limit(limit)
        )
    )


def escalate(session: Session, task_id: int, now: datetime | None = None) -> Task | None:
    """Escalate one overdue step under its instance's lock; None if it is no longer due for it."""
    now = now or utcnow()
    step = session.get(Task, task_id)
    if step is None:
        return None
    with changing_instance(session, step.instance_id, None) as change:
        session.refresh(step)
        if not step.overdue_at(now) or step.escalated_at is not None:
            change.leave_unchanged()  # done meanwhile, or another worker escalated it first
            return None
        lead = _lead_of(session, step.agency_code)
        step.escalated_at = now
        reminder = Task(
            instance_id=change.instance.id,
            kind=TaskKind.REMINDER,
            reminder_for_id=step.id,
            spiff_task_id=f"reminder-{step.id}",
            bpmn_id=step.bpmn_id,
            name=f"催办：{step.name}",
            stage=step.stage,
            lane=step.lane,
            agency_code=step.agency_code,
            documentation=f"The step “{step.name}” passed its due date; follow it up with its assignee.",
            state=TaskState.CLAIMED if lead else TaskState.OPEN,
            assignee=lead,
            claimed_at=now if lead else None,
            created_at=now,
            due_at=None,
            input_data={},
        )
        session.add(reminder)
        session.flush()
        events.record(
            session,
            "task.escalated",
            None,
            instance=change.instance,
            task=step,
            payload={
                "bpmn_id": step.bpmn_id,
                "due_at": step.due_at.isoformat() if step.due_at else None,
                "lead": lead.username if lead else None,
                "reminder": reminder.id,
            },
        )
    return reminder


def escalate_overdue(database: Database, now: datetime | None = None) -> int:
    """Escalate every overdue step not escalated yet, one transaction each; returns how many."""
    now = now or utcnow()
    with database.session(read_only=True) as session:
        candidates = overdue_steps(session, now)
    count = 0
    for task_id in candidates:
        with database.session() as session:
            count += escalate(session, task_id, now) is not None
    return count
