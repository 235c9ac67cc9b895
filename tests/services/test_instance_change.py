"""The unit of work every instance change goes through (services/instance_change.py), and the
vocabulary the database holds it to."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from approvals.demo import sample_pdf
from approvals.models import Event, Material, ProcessInstance, TaskState
from approvals.services import instances, tasks
from approvals.services.errors import InvalidInput
from tests.factories import start, user
from tests.helpers import SUBMISSION


def _snapshot(database, instance_id):
    with database.session(read_only=True) as session:
        instance = session.get(ProcessInstance, instance_id)
        events = session.scalar(select(func.count()).select_from(Event).where(Event.instance_id == instance_id))
        steps = [(t.bpmn_id, t.state) for t in instances.open_tasks(session, instance_id)]
        return instance.lock_version, instance.updated_at, events, steps


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("task", "state", "done"),
        ("task", "kind", "chore"),
        ("process_instance", "status", "paused"),
        ("user_account", "role", "boss"),
    ],
)
def test_the_database_refuses_a_value_outside_the_vocabulary(database, people, sample, table, column, value):
    with database.session() as session:
        start(session)
    with pytest.raises(IntegrityError, match=f"ck_{table}_{column}"), database.session() as session:
        session.execute(text(f"UPDATE {table} SET {column} = :value"), {"value": value})  # noqa: S608 - test's names


def test_a_refused_change_writes_nothing(database, people, sample):
    with database.session() as session:
        instance, (submit,) = start(session)
    before = _snapshot(database, instance.id)
    with database.session() as session:  # committed at the end, as the CLI and the worker do
        with pytest.raises(InvalidInput):
            tasks.complete_task(session, submit.id, {"application_title": ""}, user(session, "hq"))
    assert _snapshot(database, instance.id) == before


def test_claiming_a_step_one_already_holds_changes_nothing(database, people, sample):
    with database.session() as session:
        instance, (submit,) = start(session)
        tasks.claim_task(session, submit.id, user(session, "hq"))
    before = _snapshot(database, instance.id)
    with database.session() as session:
        assert tasks.claim_task(session, submit.id, user(session, "hq")).state == TaskState.CLAIMED
    assert _snapshot(database, instance.id) == before


def test_a_change_bumps_the_lock_version_and_records_its_events(database, people, sample):
    with database.session() as session:
        instance, (submit,) = start(session)
    version, _, events, _ = _snapshot(database, instance.id)
    with database.session() as session:
        tasks.claim_task(session, submit.id, user(session, "hq"))
    assert _snapshot(database, instance.id)[0] == version + 1
    assert _snapshot(database, instance.id)[2] == events + 1  # task.claimed


def test_a_refused_submission_with_files_keeps_no_file_and_the_session_goes_on(database, people, sample):
    """Completing with uploads is one change in a savepoint: the refusal takes the files with it,
    and the same transaction can still show the form again and complete it properly."""
    with database.session() as session:
        instance, (submit,) = start(session)
    with database.session() as session:
        hq = user(session, "hq")
        upload = tasks.Upload(None, "plan.pdf", io.BytesIO(sample_pdf("plan")))
        with pytest.raises(InvalidInput):
            tasks.complete_with_uploads(session, submit.id, [upload], {"application_title": ""}, hq)
        assert session.scalar(select(func.count()).select_from(Material)) == 0
        assert tasks.get_task(session, submit.id, hq).state == TaskState.OPEN
        again = tasks.Upload(None, "plan.pdf", io.BytesIO(sample_pdf("plan")))
        _, open_after = tasks.complete_with_uploads(session, submit.id, [again], SUBMISSION, hq)
        assert {t.bpmn_id for t in open_after} == {"review_planning", "review_water"}
    with database.session(read_only=True) as session:
        (material,) = session.scalars(select(Material))
        assert material.name == "plan.pdf" and material.task_id == submit.id
