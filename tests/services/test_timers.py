"""BPMN timers fired by the worker: on time, once, even with two workers at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from approvals.services import definitions, instances, timers
from tests.factories import complete, make_project, start, user

MODEL = Path(__file__).parent.parent / "data" / "timer_followup.bpmn"
START = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def waiting(database, people):
    """Instances submitted at START, each now waiting on a two-day timer."""

    def make(count: int) -> list[int]:
        ids = []
        with time_machine.travel(START, tick=False), database.session() as session:
            definitions.publish(session, MODEL.read_bytes(), {}, None)
            make_project(session, "T-1", "定时")
            for _ in range(count):
                instance, (first,) = start(session, "timer_followup", "T-1")
                complete(session, first, {}, "hq")
                assert instance.next_timer_at == START + timedelta(days=2)
                ids.append(instance.id)
        return ids

    return make


def open_steps(database, instance_id):
    with database.session() as session:
        return [t.bpmn_id for t in instances.open_tasks(session, instance_id)]


def fired_events(database, instance_id):
    with database.session() as session:
        return [e for e in instances.instance_events(session, instance_id) if e.type == "timer.fired"]


def test_timer_waits_then_fires_when_due(database, waiting):
    (iid,) = waiting(1)
    assert open_steps(database, iid) == []
    with time_machine.travel(START + timedelta(days=1), tick=False):
        assert timers.run_due(database) == 0
    assert open_steps(database, iid) == []
    with time_machine.travel(START + timedelta(days=2, minutes=1), tick=False):
        assert timers.run_due(database) == 1
        assert timers.run_due(database) == 0  # nothing left due
    assert open_steps(database, iid) == ["followup"]
    assert [e.payload["bpmn_id"] for e in fired_events(database, iid)] == ["wait"]
    with database.session() as session:
        assert instances.get_instance(session, iid).next_timer_at is None


def test_suspended_instances_keep_their_timers_until_resumed(database, waiting, people):
    (iid,) = waiting(1)
    with database.session() as session:
        instances.suspend_instance(session, iid, user(session, "admin"))
    with time_machine.travel(START + timedelta(days=3), tick=False):
        assert timers.run_due(database) == 0
        with database.session() as session:
            instances.resume_instance(session, iid, user(session, "admin"))
        assert timers.run_due(database) == 1
    assert open_steps(database, iid) == ["followup"]


def test_two_workers_at_once_never_fire_a_timer_twice(database, waiting):
    ids = waiting(12)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(timeout=30)
            timers.run_due(database)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    with time_machine.travel(START + timedelta(days=2, hours=1), tick=False):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    for iid in ids:
        assert len(fired_events(database, iid)) == 1, iid
        assert open_steps(database, iid) == ["followup"]


def test_a_timer_can_wait_a_number_of_working_days(database, people):
    """workdays_after(3) from Wednesday 2026-09-23 skips the Sep 25-27 break: due at the end of Sep 29."""
    wednesday = datetime(2026, 9, 23, 2, 0, tzinfo=UTC)
    with time_machine.travel(wednesday, tick=False), database.session() as session:
        definitions.publish(session, (MODEL.parent / "workday_timer.bpmn").read_bytes(), {}, None)
        instance, (first,) = start(session, "workday_timer", "W-1")
        complete(session, first, {}, "hq")
        assert (instance.status, instance.error_message) == ("running", None)
        assert instance.next_timer_at == datetime(2026, 9, 29, 15, 59, 59, tzinfo=UTC)
    with time_machine.travel(datetime(2026, 9, 29, 12, 0, tzinfo=UTC), tick=False):
        assert timers.run_due(database) == 0
    with time_machine.travel(datetime(2026, 9, 29, 16, 0, 30, tzinfo=UTC), tick=False):
        assert timers.run_due(database) == 1
    assert open_steps(database, instance.id) == ["followup"]


def test_firing_an_instance_whose_timer_is_not_due_changes_nothing(database, waiting):
    """A worker that reaches an instance another worker already handled (or one not due yet) leaves it as it is."""
    (iid,) = waiting(1)
    with database.session() as session:
        version = instances.get_instance(session, iid).lock_version
    with time_machine.travel(START + timedelta(days=1), tick=False), database.session() as session:
        assert timers.fire_timers(session, iid) == []
    with database.session() as session:
        assert instances.get_instance(session, iid).lock_version == version
    assert fired_events(database, iid) == []


def test_one_run_handles_at_most_its_limit(database, waiting):
    ids = waiting(3)
    with time_machine.travel(START + timedelta(days=3), tick=False):
        assert timers.run_due(database, limit=2) == 2
        assert timers.run_due(database) == 1
    assert all(open_steps(database, iid) == ["followup"] for iid in ids)


def test_a_timer_that_would_grow_the_state_past_its_bound_stops_the_instance(database, waiting, database_url, data_dir):
    from approvals.db import Database
    from approvals.services.limits import Limits

    (iid,) = waiting(1)
    with database.session() as session:
        before = instances.get_instance(session, iid).state
    tight = Database(database_url, {"limits": Limits(data_dir=str(data_dir), max_state_bytes=len(before) // 2)})
    try:
        with time_machine.travel(START + timedelta(days=3), tick=False):
            assert timers.run_due(tight) == 1  # the worker goes on: this instance alone stops
        with tight.session() as session:
            instance = instances.get_instance(session, iid)
            assert instance.status == "error" and "would grow to" in instance.error_message
            assert instance.state == before  # what was saved stays
    finally:
        tight.dispose()


def _retries_then_stops(database, poisoned, healthy=()):
    """Run the worker at the first due time and at each back-off (60 s, then 120 s, then 240 s
    later): three retries, each written as ``timer.failed``, then the instance stops in error."""
    moments = [START + timedelta(days=3)]
    for wait in (60, 120, 240):
        moments.append(moments[-1] + timedelta(seconds=wait))
    for n, moment in enumerate(moments):
        with time_machine.travel(moment, tick=False):
            assert timers.run_due(database) == (1 + len(healthy) if n == 0 else 1)
            assert timers.run_due(database) == 0  # nothing else due until the next back-off
        with database.session() as session:
            instance = instances.get_instance(session, poisoned)
            if n < 3:
                assert instance.status == "running" and instance.next_timer_at == moments[n + 1]
    with database.session() as session:
        failed = [e for e in instances.instance_events(session, poisoned) if e.type == "timer.failed"]
        assert [e.payload["attempt"] for e in failed] == [1, 2, 3]
        assert failed[0].payload["retry_at"] == moments[1].isoformat()
        return instances.get_instance(session, poisoned)


def test_a_poisoned_instance_stops_alone_and_every_other_timer_fires_once(database, waiting):
    """Live instances, 1: one instance whose timers cannot fire (here a corrupt saved state) and ten
    healthy ones are due at once: the healthy timers each fire exactly once, the poisoned instance
    is tried again with back-off, then stops in error saying why, and the worker's run completes."""
    ids = waiting(11)
    poisoned, healthy = ids[0], ids[1:]
    with database.session() as session:
        instances.get_instance(session, poisoned).state = '{"not": "a workflow"}'
    stopped = _retries_then_stops(database, poisoned, healthy)
    for iid in healthy:
        assert open_steps(database, iid) == ["followup"]
        assert len(fired_events(database, iid)) == 1
    assert stopped.status == "error" and "could not fire" in stopped.error_message
    assert stopped.next_timer_at is None
    with database.session() as session:
        assert [e.type for e in instances.instance_events(session, poisoned)][-1] == "instance.error"


def test_an_instance_stopped_by_its_timers_has_one_incident_counting_every_attempt(database, waiting):
    from approvals.models import Incident

    (poisoned,) = waiting(1)
    with database.session() as session:
        instances.get_instance(session, poisoned).state = "[]"
    _retries_then_stops(database, poisoned)
    with database.session() as session:
        (incident,) = session.query(Incident).all()
        assert incident.instance_id == poisoned and incident.kind == "timer" and incident.status == "open"
        assert incident.attempts == 4 and "could not fire" in incident.message
        incident_id = incident.id
    # Nothing can run a state that cannot be read: retry and modify say so (409), and change nothing.
    from approvals.services import repair
    from approvals.services.errors import Conflict

    for attempt in (
        lambda session, admin: repair.retry(session, incident_id, admin),
        lambda session, admin: repair.modify_instance(session, poisoned, admin, reason="r", data={"x": 1}),
    ):
        with pytest.raises(Conflict, match="cannot be read"), database.session() as session:
            attempt(session, user(session, "admin"))


def test_a_timer_behind_an_event_based_gateway_fires(database, people):
    """Live instances, 4: the gateway waits on two timers; the instance's next timer is the earlier
    one, and the worker fires it once it is due."""
    model = Path(__file__).parent.parent / "data" / "event_gateway_timers.bpmn"
    with time_machine.travel(START, tick=False), database.session() as session:
        definitions.publish(session, model.read_bytes(), {}, None)
        instance, _ = start(session, "event_gateway_timers", "E-1")
        assert instance.next_timer_at == START + timedelta(hours=1)
        iid = instance.id
    with time_machine.travel(START + timedelta(minutes=59), tick=False):
        assert timers.run_due(database) == 0
    with time_machine.travel(START + timedelta(hours=1, minutes=1), tick=False):
        assert timers.run_due(database) == 1
    with database.session() as session:
        done = instances.get_instance(session, iid)
        assert done.status == "completed" and done.result == "soon" and done.next_timer_at is None


def test_a_script_failing_after_a_timer_is_retried_and_runs_once_the_data_is_fixed(database, people):
    """The timer's work fails (a script after it divides by zero): the instance keeps running and is
    tried again after 60 s; an owner fixes the data (instance modification), which runs the due work."""
    from approvals.services import repair

    model = (
        MODEL.read_text()
        .replace(
            '<bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="followup" />',
            '<bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="calc" />'
            '<bpmn:scriptTask id="calc" name="计算"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f3b</bpmn:outgoing>'
            "<bpmn:script>share = 100 / divisor</bpmn:script></bpmn:scriptTask>"
            '<bpmn:sequenceFlow id="f3b" sourceRef="calc" targetRef="followup" />',
        )
        .replace(
            "<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>",
            "<bpmn:incoming>f3b</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>",
        )
    )
    with time_machine.travel(START, tick=False), database.session() as session:
        definitions.publish(session, model.encode(), {}, None)
        instance, (first,) = start(session, "timer_followup", "T-1", {"divisor": 0})
        complete(session, first, {}, "hq")
        iid = instance.id
    due = START + timedelta(days=2, minutes=1)
    with time_machine.travel(due, tick=False):
        assert timers.run_due(database) == 1
    with database.session() as session:
        waiting = instances.get_instance(session, iid)
        assert waiting.status == "running" and waiting.next_timer_at == due + timedelta(seconds=60)
        (failed,) = [e for e in instances.instance_events(session, iid) if e.type == "timer.failed"]
        assert failed.payload["element"] == "calc" and "division by zero" in failed.payload["message"]
    # The fix is made before the next try: the modification runs the due timer's work at once.
    with time_machine.travel(due + timedelta(seconds=30), tick=False), database.session() as session:
        fixed = repair.modify_instance(session, iid, user(session, "owner"), reason="除数录入错误", data={"divisor": 4})
        assert fixed.status == "running" and fixed.next_timer_at is None
    assert open_steps(database, iid) == ["followup"]
    with time_machine.travel(due + timedelta(seconds=61), tick=False):
        assert timers.run_due(database) == 0  # nothing left to try again
