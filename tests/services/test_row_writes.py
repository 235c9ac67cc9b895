"""The hot path's rows written with Core (services/row_writes.py): the objects a change returns
hold what the database holds, the optimistic check still stops a writer that slipped past the
lock, nothing is left for the ORM to write twice, and on PostgreSQL a change's own events go in
the statement that writes its rows."""

from __future__ import annotations

import pytest
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS  # what psycopg caches
from sqlalchemy import func, select, text
from sqlalchemy.orm.exc import StaleDataError

from approvals.engine.runtime import ModelRuntime
from approvals.models import Event, OutboxMessage, ProcessInstance, Task, TaskState
from approvals.services import instances, tasks
from tests.factories import make_project, start, user
from tests.helpers import SUBMISSION, statements_sent

TASK_COLUMNS = [column.key for column in Task.__table__.c]
INSTANCE_COLUMNS = [column.key for column in ProcessInstance.__table__.c]


def _as_stored(database, model, row_id, columns):
    with database.session(read_only=True) as session:
        row = session.get(model, row_id)
        return {name: getattr(row, name) for name in columns}


def test_a_started_instance_and_its_first_step_are_returned_as_stored(database, people, sample):
    with database.session() as session:
        instance, (submit,) = start(session)
        returned_instance = {name: getattr(instance, name) for name in INSTANCE_COLUMNS}
        returned_step = {name: getattr(submit, name) for name in TASK_COLUMNS}
        assert not session.dirty and not session.new  # nothing left for the ORM to write again
    assert returned_instance == _as_stored(database, ProcessInstance, instance.id, INSTANCE_COLUMNS)
    assert returned_step == _as_stored(database, Task, submit.id, TASK_COLUMNS)
    assert returned_step["kind"] == "step" and returned_step["excluded_steps"] == []  # the columns' defaults
    assert returned_instance["lock_version"] == 1


def test_a_completion_returns_the_instance_and_its_new_steps_as_stored(database, people, sample):
    with database.session() as session:
        instance, (submit,) = start(session)
    with database.session() as session:
        changed, opened = tasks.complete_task(session, submit.id, SUBMISSION, user(session, "hq"))
        returned = {name: getattr(changed, name) for name in INSTANCE_COLUMNS}
        steps = {step.id: {name: getattr(step, name) for name in TASK_COLUMNS} for step in opened}
        assert not session.dirty and not session.new
    assert returned == _as_stored(database, ProcessInstance, instance.id, INSTANCE_COLUMNS)
    assert returned["lock_version"] == 2
    assert len(steps) == 2  # the two reviews
    for step_id, step in steps.items():
        assert step == _as_stored(database, Task, step_id, TASK_COLUMNS)
    done = _as_stored(database, Task, submit.id, ["state", "completed_by_id", "submitted_data", "counted_workdays"])
    assert done["state"] == TaskState.COMPLETED and done["submitted_data"]["application_title"]
    assert done["completed_by_id"] is not None and done["counted_workdays"] == 0


def test_a_writer_that_slipped_past_the_lock_makes_the_change_fail_and_write_nothing(
    database, people, sample, monkeypatch
):
    with database.session() as session:
        instance, (submit,) = start(session)
    with database.session(read_only=True) as session:
        events = session.scalar(select(func.count()).select_from(Event))
    complete = ModelRuntime.complete

    def behind_our_back(runtime, workflow, *args, **kwargs):
        result = complete(runtime, workflow, *args, **kwargs)
        session.execute(
            text("UPDATE process_instance SET lock_version = lock_version + 1 WHERE id = :id"), {"id": instance.id}
        )
        return result

    monkeypatch.setattr(ModelRuntime, "complete", behind_our_back)
    with pytest.raises(StaleDataError, match="process_instance"), database.session() as session:
        tasks.complete_task(session, submit.id, SUBMISSION, user(session, "hq"))
    with database.session(read_only=True) as session:
        assert session.get(ProcessInstance, instance.id).lock_version == 1
        assert [t.bpmn_id for t in instances.open_tasks(session, instance.id)] == ["submit"]
        assert session.scalar(select(func.count()).select_from(Event)) == events


def test_a_start_records_its_events_about_the_rows_it_wrote_each_with_its_outbox_row(database, people, sample):
    with database.session() as session:
        make_project(session, "P-1")
    started = []
    writes = _writes_of(database, lambda: started.append(_start_committed(database)))
    (instance, submit) = started[0]
    if database.engine.dialect.name == "postgresql":
        assert writes == ["WITH"]  # the instance, its first step, their events and outbox rows
    else:
        assert writes == ["INSERT"] * 4  # the instance; its first step; their events; their outbox rows
    with database.session(read_only=True) as session:
        written = session.execute(
            select(Event.type, Event.project_id, Event.instance_id, Event.task_id, OutboxMessage.id)
            .outerjoin(OutboxMessage, OutboxMessage.event_id == Event.id)
            .where(Event.instance_id == instance.id)
            .order_by(Event.id)
        ).all()
        assert [(row.id, row.instance_id) for row in instances.open_tasks(session, instance.id)] == [
            (submit.id, instance.id)
        ]
    assert [tuple(row)[:4] for row in written] == [
        ("instance.started", instance.project_id, instance.id, None),
        ("task.created", instance.project_id, instance.id, submit.id),
    ]
    _in_the_outbox_in_order(written)


def _start_committed(database) -> tuple[ProcessInstance, Task]:
    with database.session() as session:
        instance, (submit,) = start(session)
    return instance, submit


def _in_the_outbox_in_order(written) -> None:
    """Each event went to the outbox too, in the events' order (the webhooks get them in it)."""
    boxed = [row.id for row in written]
    assert None not in boxed
    assert boxed == sorted(boxed)


def _writes_of(database, change) -> list[str]:
    """The first word of each statement ``change()`` sends that is not a read."""
    with statements_sent(database.engine) as sent:
        change()
    return [word for sql, _ in sent if (word := sql.split(None, 1)[0]) not in ("SELECT", "BEGIN")]


def test_a_claim_and_a_completion_record_their_events_in_order_each_with_its_outbox_row(database, people, sample):
    with database.session() as session:
        instance, (submit,) = start(session)
        project_id = instance.project_id

    def claim():
        with database.session() as session:
            tasks.claim_task(session, submit.id, user(session, "hq"))

    def complete():
        with database.session() as session:
            tasks.complete_task(session, submit.id, SUBMISSION, user(session, "hq"))

    claimed, completed = _writes_of(database, claim), _writes_of(database, complete)
    if database.engine.dialect.name == "postgresql":
        assert claimed == ["WITH"]  # the step, the instance, the event and its outbox row
        assert completed == ["WITH", "WITH"]  # the same; then the two new steps with their events
    else:
        assert claimed == ["INSERT", "INSERT", "UPDATE", "UPDATE"]
        # The step's event and outbox row, the step, the instance; then the two new steps, their
        # events in one INSERT and their outbox rows in one.
        assert completed == ["INSERT", "INSERT", "UPDATE", "UPDATE"] + ["INSERT"] * 4
    with database.session(read_only=True) as session:
        written = session.execute(
            select(Event.type, Event.project_id, Event.task_id, OutboxMessage.id)
            .outerjoin(OutboxMessage, OutboxMessage.event_id == Event.id)
            .where(Event.instance_id == instance.id)
            .order_by(Event.id)
        ).all()
        reviews = [row.id for row in instances.open_tasks(session, instance.id)]
    assert len(reviews) == 2
    assert [tuple(row)[:3] for row in written] == [
        ("instance.started", project_id, None),
        ("task.created", project_id, submit.id),
        ("task.claimed", project_id, submit.id),
        ("task.completed", project_id, submit.id),
        *(("task.created", project_id, review) for review in reviews),
    ]
    _in_the_outbox_in_order(written)


def test_a_start_and_a_completion_send_statements_psycopg_keeps_converted(database, people, sample):
    """psycopg converts a statement's placeholders with regular expressions, and keeps the result
    only for statements of at most 4 096 bytes and 50 parameters: a start, and a completion that
    opens two steps, stay within both (else each of them is converted anew: about 900 Python calls)."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("psycopg's cache of converted statements")
    with database.session() as session:
        make_project(session, "P-1")
    with statements_sent(database.engine) as sent:
        _, submit = _start_committed(database)
        with database.session() as session:
            opened = tasks.complete_task(session, submit.id, SUBMISSION, user(session, "hq"))[1]
    assert len(opened) == 2
    writes = [(len(sql.encode()), len(params or ())) for sql, params in sent if sql.startswith("WITH")]
    assert len(writes) == 3  # the start; the completion's step; the steps it opens
    assert all(size <= MAX_CACHED_STATEMENT_LENGTH and count <= MAX_CACHED_STATEMENT_PARAMS for size, count in writes)
