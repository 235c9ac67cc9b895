"""Timers: find instances whose timers are due and fire them, safely from several workers at once.

A timer whose work fails (a script after it, a locked database) is tried again with back-off
(``APPROVALS_TIMER_RETRIES`` times, after ``APPROVALS_TIMER_RETRY_SECONDS``, then twice that…),
each failure written as a ``timer.failed`` event; only then does the instance stop in error with an
incident that counts every attempt.

On PostgreSQL each worker claims an instance with ``FOR UPDATE SKIP LOCKED``, so two workers never
pick the same one; on SQLite the write transaction itself serializes them. Either way the due
time is checked again under the lock, so a timer another worker already fired is never fired twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from ..db import Database, is_postgres
from ..engine.errors import EngineFailure
from ..models import Event, InstanceStatus, ProcessInstance, utcnow
from . import events
from .instance_change import InstanceChange, changing_instance, fail
from .limits import limits_of

log = logging.getLogger(__name__)


def claim_due_instance(session: Session, now: datetime, skip: frozenset[int] = frozenset()) -> int | None:
    """The id of one running instance with a due timer, locked for this transaction."""
    stmt = (
        select(ProcessInstance.id)
        .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_timer_at <= now)
        .where(ProcessInstance.id.not_in(skip) if skip else true())
        .order_by(ProcessInstance.next_timer_at, ProcessInstance.id)
        .limit(1)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalar(stmt)


def fire_timers(session: Session, instance_id: int, now: datetime | None = None) -> list[str]:
    """Fire the due timers of one instance; returns the BPMN ids of the timers that fired."""
    now = now or utcnow()
    with changing_instance(session, instance_id, None) as change:
        instance = change.instance
        if instance.status != InstanceStatus.RUNNING or instance.next_timer_at is None or instance.next_timer_at > now:
            change.leave_unchanged()  # another worker got here first, or the instance moved on
            return []
        fired = change.advance(change.runtime.fire_due_timers) or []
        if change.failure is not None:
            _retry_later(change, change.failure, now)
            return []
        for bpmn_id in fired:
            events.record(session, "timer.fired", None, instance=instance, payload={"bpmn_id": bpmn_id})
    return fired


def run_due(database: Database, now: datetime | None = None, limit: int = 1000) -> int:
    """Fire due timers instance by instance, one transaction each; returns how many were handled."""
    seen: set[int] = set()  # each instance once per run, even if a timer refuses to fire
    while len(seen) < limit:
        instance_id: int | None = None
        try:
            with database.session() as session:
                instance_id = claim_due_instance(session, now or utcnow(), frozenset(seen))
                if instance_id is None:
                    break
                seen.add(instance_id)
                fire_timers(session, instance_id, now)
        except Exception as exc:
            if instance_id is None:  # the database itself failed: nothing to do here but stop
                raise
            # One instance that cannot fire (a corrupt state, an engine bug) must not stop every
            # other instance's timers: it stops, in error, saying why; the worker goes on.
            log.exception("timers of process instance %s failed", instance_id)
            _stop(database, instance_id, exc)
    return len(seen)


def _stop(database: Database, instance_id: int, exc: Exception) -> None:
    with database.session() as session, changing_instance(session, instance_id, None) as change:
        failure = EngineFailure(f"its timers could not fire: {type(exc).__name__}: {exc}")
        _retry_later(change, failure, utcnow(), saved=False)


def _retry_later(change: InstanceChange, failure: EngineFailure, now: datetime, *, saved: bool = True) -> None:
    """Try the timers again later, with back-off, or (tries used up) let the change stop the
    instance in error with an incident counting every attempt. ``saved``: the workflow as the
    failure left it can be saved (it could not when the failure was reading or saving it)."""
    session, instance = change.session, change.instance
    limits = limits_of(session)
    attempt = _failures_since_last_fired(session, instance.id) + 1
    change.failure_kind, change.failure_attempts = "timer", attempt
    if attempt > limits.timer_retries:
        if not saved:
            change.leave_unchanged()
            instance.next_timer_at = None
            fail(session, instance, failure, None, "timer", attempt)
        return
    change.leave_unchanged()  # the workflow as before: the timer is still due
    retry_at = now + timedelta(seconds=limits.timer_retry_seconds * 2 ** (attempt - 1))
    instance.next_timer_at = retry_at
    events.record(
        session,
        "timer.failed",
        None,
        instance=instance,
        payload={
            "attempt": attempt,
            "retry_at": retry_at.isoformat(),
            "message": str(failure),
            "element": failure.element,
        },
    )
    session.flush()


def _failures_since_last_fired(session: Session, instance_id: int) -> int:
    fired = select(func.coalesce(func.max(Event.id), 0)).where(
        Event.instance_id == instance_id, Event.type == "timer.fired"
    )
    return (
        session.scalar(
            select(func.count()).where(
                Event.instance_id == instance_id, Event.type == "timer.failed", Event.id > fired.scalar_subquery()
            )
        )
        or 0
    )
