"""Workflows kept warm between the changes of an instance (issue 19): the next change here skips
deserializing, and never acts on a workflow that is not the state the database holds."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from approvals.db import Database
from approvals.engine.runtime import ModelRuntime
from approvals.engine.warm import WARM, WarmWorkflows
from approvals.services import instances, send_back, tasks
from approvals.services.errors import InvalidInput
from approvals.services.limits import Limits
from tests.conftest import publish_file
from tests.factories import complete, start, user
from tests.helpers import SUBMISSION


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The states deserialized from now on."""
    seen: list[str] = []
    load = ModelRuntime.load

    def counted(runtime, state):
        seen.append(state)
        return load(runtime, state)

    monkeypatch.setattr(ModelRuntime, "load", counted)
    return seen


def open_steps(database, instance_id) -> dict[str, object]:
    with database.session() as session:
        return {t.bpmn_id: t for t in instances.open_tasks(session, instance_id)}


def submitted(database) -> tuple[int, dict[str, object]]:
    """A sample review HQ submitted (in this process): the instance id and its open steps."""
    publish_file(database)
    with database.session() as session:
        instance, (submit,) = start(session)
        complete(session, submit, SUBMISSION)
    return instance.id, open_steps(database, instance.id)


def state_of(database, instance_id) -> str:
    with database.session() as session:
        return instances.get_instance(session, instance_id).state


def test_the_next_change_takes_the_workflow_this_process_saved(database, people, loads):
    instance_id, steps = submitted(database)
    with database.session() as session:
        complete(session, steps["review_planning"], {"opinion": "agree"})
    with database.session() as session:
        complete(session, steps["review_water"], {"opinion": "agree"})
    assert loads == []  # two changes after the start, not one state read back
    assert list(open_steps(database, instance_id)) == ["decide"]


def test_a_change_refused_after_the_engine_ran_leaves_no_trace_for_the_next(
    database, people, loads, database_url, data_dir
):
    """The completion runs the engine on the warm workflow, then is refused (its state would be
    too big) and rolls back: the next change must start again from the state in the database,
    where the step is still open, not from the workflow the refused change moved on."""
    instance_id, steps = submitted(database)
    saved = state_of(database, instance_id)
    tight = Database(database_url, {"limits": Limits(data_dir=str(data_dir), max_state_bytes=len(saved))})
    try:
        with tight.session() as session, pytest.raises(InvalidInput):
            complete(session, steps["review_planning"], {"opinion": "agree"})
    finally:
        tight.dispose()
    assert state_of(database, instance_id) == saved
    with database.session() as session:
        complete(session, steps["review_water"], {"opinion": "agree"})
    assert loads == [saved]  # read back from the database
    assert list(open_steps(database, instance_id)) == ["review_planning"]


def test_a_change_made_by_another_process_wins_over_the_warm_workflow(database, people, loads, monkeypatch):
    """This process keeps the workflow after the planning review; another worker process then
    completes the water review. The decision here must run on the state that worker saved."""
    from approvals.engine import warm
    from approvals.services import instance_change

    instance_id, steps = submitted(database)
    with database.session() as session:
        complete(session, steps["review_planning"], {"opinion": "agree"})
    ours = instance_change.WARM
    monkeypatch.setattr(instance_change, "WARM", warm.WarmWorkflows())  # the other process's own
    with database.session() as session:
        complete(session, steps["review_water"], {"opinion": "agree"})
    monkeypatch.setattr(instance_change, "WARM", ours)
    theirs = state_of(database, instance_id)
    loads.clear()
    with database.session() as session:
        complete(session, open_steps(database, instance_id)["decide"], {"decision": "approve", "approval_number": "1"})
    assert loads == [theirs]
    with database.session() as session:
        assert instances.get_instance(session, instance_id).status == "completed"


def test_a_step_read_for_its_send_back_targets_leaves_the_workflow_warm_for_its_change(database, people, loads):
    """A step's page (its send-back targets need the workflow) on an instance whose workflow this
    process does not keep (another worker made its last change): the page loads the state once,
    however often it is read, and the completion that follows takes that workflow."""
    instance_id, steps = submitted(database)
    WARM.forget(instance_id)
    saved = state_of(database, instance_id)
    for _ in range(2):
        with database.session() as session:
            pnr = user(session, "pnr")
            step = tasks.get_task(session, steps["review_planning"].id, pnr)
            assert [target.bpmn_id for target in send_back.targets(session, step)] == ["submit"]
    with database.session() as session:
        complete(session, steps["review_planning"], {"opinion": "agree"})
    assert loads == [saved]
    assert list(open_steps(database, instance_id)) == ["review_water"]


def test_a_read_gives_its_workflow_back_unless_a_change_kept_a_newer_one():
    store, runtime = WarmWorkflows(), SimpleNamespace(load=lambda state: f"loaded from {state}")
    with store.lent(1, "saved", runtime) as workflow:
        assert workflow == "loaded from saved"
    with store.lent(1, "saved", runtime) as workflow:  # given back: taken, not loaded again
        assert workflow == "loaded from saved" and store.taken == 1
        store.keep(1, "changed", runtime, "the change's")  # another request's change, meanwhile
    assert store.take(1, "changed", runtime) == "the change's"
