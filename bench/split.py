"""Where a completion's time goes (its state read from the database), on each database: SQL round
trips, the ORM's flush work beside its SQL, SpiffWorkflow (load, complete and engine steps, save),
form validation, commit, and the rest (the service layer's own Python: loading rows into objects,
checks, events). Measured by timing hooks around one completion at a time; the hooks cost a
little, so the parts add up to a bit more than the plain figure of engine_overhead."""

from __future__ import annotations

import inspect
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from approvals.engine.runtime import ModelRuntime
from approvals.engine.warm import WARM
from approvals.services import instances, tasks, users

from .common import STAFF, SUBMISSION, Table, fresh_database

OPINION = {"opinion": "agree"}
PARTS = ("SQL", "ORM flush", "engine load", "engine complete", "engine save", "validation", "commit", "service Python")


class Clock:
    """Seconds spent in each part during the current completion."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._sql_started = 0.0
        self._flush_started = 0.0
        self._sql_in_flush = 0.0

    def wrap(self, owner: Any, name: str, part: str) -> Callable[[], None]:
        """Time ``owner.name`` under ``part``; returns what undoes it."""
        original, static = getattr(owner, name), isinstance(inspect.getattr_static(owner, name), staticmethod)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[part] += time.perf_counter() - began

        setattr(owner, name, staticmethod(timed) if static else timed)
        return lambda: setattr(owner, name, staticmethod(original) if static else original)

    def listen(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _before(*_: Any) -> None:
            self._sql_started = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(*_: Any) -> None:
            took = time.perf_counter() - self._sql_started
            self.spent["SQL"] += took
            if self._flush_started:
                self._sql_in_flush += took

        @event.listens_for(Session, "before_flush")
        def _flush_begins(*_: Any) -> None:
            self._flush_started, self._sql_in_flush = time.perf_counter(), 0.0

        @event.listens_for(Session, "after_flush_postexec")
        def _flush_ends(*_: Any) -> None:
            if self._flush_started:
                self.spent["ORM flush"] += time.perf_counter() - self._flush_started - self._sql_in_flush
            self._flush_started = 0.0


@contextmanager
def _hooks(clock: Clock):
    undo = [
        clock.wrap(ModelRuntime, "load", "engine load"),
        clock.wrap(ModelRuntime, "complete", "engine complete"),
        clock.wrap(ModelRuntime, "dump", "engine save"),
        clock.wrap(tasks, "validate_submission", "validation"),
    ]
    try:
        yield
    finally:
        for step in undo:
            step()


def split(kind: str, repeat: int) -> dict[str, float]:
    """Median ms of each part over ``repeat`` completions on a fresh database of ``kind``."""
    warm_up = 20
    with fresh_database(kind) as (database, _):
        with database.session() as session:
            hq = users.get_user(session, STAFF["HQ"])
            review_ids = []
            for _ in range(repeat + warm_up):
                started, _ = instances.start_instance(session, "B-1", "sample_review", {}, hq)
                tasks.complete_task(session, instances.open_tasks(session, started.id)[0].id, SUBMISSION, hq)
                review = next(t for t in instances.open_tasks(session, started.id) if t.bpmn_id == "review_planning")
                review_ids.append((review.id, started.id))
        clock = Clock()
        clock.listen(database.engine)
        samples: dict[str, list[float]] = defaultdict(list)
        with _hooks(clock):
            for n, (task_id, instance_id) in enumerate(review_ids):
                WARM.forget(instance_id)  # each completion reads its state from the database
                clock.spent.clear()
                began = time.perf_counter()
                with database.session() as session:
                    tasks.complete_task(session, task_id, OPINION, users.get_user(session, STAFF["PNR"]))
                    done = time.perf_counter()
                total = time.perf_counter() - began
                clock.spent["commit"] = time.perf_counter() - done
                accounted = sum(clock.spent[part] for part in PARTS if part != "service Python")
                clock.spent["service Python"] = total - accounted
                if n >= warm_up:
                    for part in PARTS:
                        samples[part].append(clock.spent[part] * 1000)
                    samples["total"].append(total * 1000)
    return {part: statistics.median(values) for part, values in samples.items()}


def run(table: Table, repeat: int = 300) -> None:
    for kind in ("sqlite", "postgresql"):
        parts = split(kind, repeat)
        said = ", ".join(f"{part} {parts[part]:.2f}" for part in PARTS)
        table.add(f"completion split on {kind} (medians, ms)", f"{parts['total']:.2f} in all: {said}")
