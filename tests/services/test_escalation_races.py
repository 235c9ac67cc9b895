"""Escalation run by several workers: a step done or escalated meanwhile is left alone."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from approvals.models import Task, TaskKind
from approvals.services import escalation, instances
from tests.factories import complete, start
from tests.helpers import SUBMISSION

SUBMITTED_AT = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)
AFTER_WATER_DUE = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)  # water's 15 WD ended on 2026-10-19


def test_a_step_completed_before_the_worker_reaches_it_raises_no_reminder(database, people, sample):
    with time_machine.travel(SUBMITTED_AT, tick=False), database.session() as session:
        instance, (submit,) = start(session)
        reviews = {t.bpmn_id: t for t in complete(session, submit, SUBMISSION)}
    with time_machine.travel(AFTER_WATER_DUE, tick=False):
        with database.session(read_only=True) as session:
            candidates = escalation.overdue_steps(session, AFTER_WATER_DUE)
        assert reviews["review_water"].id in candidates
        with database.session() as session:  # done while the worker was looking
            complete(session, session.get(Task, reviews["review_water"].id), {"opinion": "agree"})
        with database.session() as session:
            assert escalation.escalate(session, reviews["review_water"].id) is None
            assert escalation.escalate(session, 999_999) is None  # gone altogether
        with database.session() as session:
            assert instances.open_tasks(session, instance.id, kind=TaskKind.REMINDER) == []
            assert escalation.escalate_overdue(database) == 0
