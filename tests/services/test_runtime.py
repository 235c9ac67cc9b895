"""Running models through the services: scripts in the sandbox, routing, errors, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals.cli import deploy_files
from approvals.db import Database
from approvals.engine import runtime as engine_runtime
from approvals.services import definitions, instances, projects, tasks, users
from approvals.services.errors import Conflict
from approvals.services.limits import Limits
from tests.conftest import BPMN_DIR, FORMS_DIR, read_forms
from tests.helpers import SUBMISSION, sample_with_script

FORMS = read_forms(BPMN_DIR / "sample_review.bpmn")
DATA = Path(__file__).parent.parent / "data"
MARKER = "/tmp/approvals-script-marker"  # noqa: S108 - what a hostile script would try to create


@pytest.fixture
def actors(database, people):
    with database.session() as session:
        return {name: users.get_user(session, name) for name in ("hq", "pnr", "water", "drc", "admin")}


def publish(database, bpmn: str):
    with database.session() as session:
        definition, _ = definitions.publish(session, bpmn.encode(), FORMS, None)
        return definition.key


def start(database, actors, code="P-1", funding_level="municipal", data=None):
    with database.session() as session:
        if session.scalar(projects.select(projects.Project).where(projects.Project.code == code)) is None:
            projects.create_project(
                session, projects.NewProject(code=code, name="测试项目", funding_level=funding_level), actors["admin"]
            )
        instance, _ = instances.start_instance(session, code, "sample_review", data or {}, actors["admin"])
        return instance.id


def state_of(database, instance_id):
    with database.session() as session:
        instance = instances.get_instance(session, instance_id)
        return instance.status, instance.error_message, [t.bpmn_id for t in instances.open_tasks(session, instance_id)]


def test_script_task_runs_in_the_sandbox_and_its_data_flows_on(database, actors):
    publish(database, sample_with_script("review_round = 1\nlimits = [d * 2 for d in range(3)]"))
    iid = start(database, actors)
    assert state_of(database, iid) == ("running", None, ["submit"])
    with database.session() as session:
        (task,) = instances.open_tasks(session, iid)
        assert task.input_data["review_round"] == 1 and task.input_data["limits"] == [0, 2, 4]


@pytest.mark.parametrize(
    "script, words",
    [
        ("while True:\\n    pass", "longer than"),
        ("x = 'a' * (10 ** 10)", "memory"),
        (f"x = open('{MARKER}', 'w')", "open"),
        ("x = getattr(1, '__class__')", "getattr"),
        ("typename = {'typename': 'BpmnWorkflow'}", "reserved"),
        # Security round two, 16: a forged tag stays a dict, which is refused, never a Decimal('sNaN').
        ("n = {'$approvals': 'decimal', 'value': 'sNaN'}", "reserved"),
    ],
)
def test_hostile_script_puts_only_its_instance_in_error(database, actors, script, words):
    import os

    publish(database, sample_with_script(script.replace("\\n", "\n")))
    iid = start(database, actors)
    status, message, open_steps = state_of(database, iid)
    assert status == "error" and words in message and open_steps == []
    assert not os.path.exists(MARKER)
    with database.session() as session:
        trail = instances.instance_events(session, iid)
        assert trail[-1].type == "instance.error" and trail[-1].payload["element"] == "calc"


def test_script_naming_builtins_is_refused_at_publish(database, actors):
    from approvals.services.errors import ModelInvalid

    with pytest.raises(ModelInvalid, match="__builtins__"):
        publish(database, sample_with_script("leak = len(str(__builtins__))"))


def test_lane_routing_expression_sends_district_projects_to_district_drc(database, actors, people):
    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    routed = sample.replace(
        '<bpmn:lane id="Lane_DRC" name="DRC">',
        '<bpmn:lane id="Lane_DRC" name="审批机关"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="routing" '
        "value=\"'DRC_DISTRICT' if project['funding_level'] == 'district' else 'DRC'\" />"
        "</spiffworkflow:properties></bpmn:extensionElements>",
    )
    publish(database, routed)
    for code, level, agency in (("P-CITY", "municipal", "DRC"), ("P-DIST", "district", "DRC_DISTRICT")):
        iid = start(database, actors, code=code, funding_level=level)
        with database.session() as session:
            hq, pnr, water = (users.get_user(session, n) for n in ("hq", "pnr", "water"))
            tasks.complete_task(session, instances.open_tasks(session, iid)[0].id, SUBMISSION, hq)
            for task in instances.open_tasks(session, iid):
                tasks.complete_task(session, task.id, {"opinion": "agree"}, pnr if task.agency_code == "PNR" else water)
            (decide,) = instances.open_tasks(session, iid)
            assert (decide.bpmn_id, decide.agency_code) == ("decide", agency)


def test_routing_to_an_unknown_agency_is_an_instance_error(database, actors):
    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    routed = sample.replace(
        '<bpmn:lane id="Lane_HQ" name="HQ">',
        '<bpmn:lane id="Lane_HQ" name="申请人"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="routing" value="\'NOWHERE\'" />'
        "</spiffworkflow:properties></bpmn:extensionElements>",
    )
    publish(database, routed)
    status, message, _ = state_of(database, start(database, actors))
    assert status == "error" and "NOWHERE" in message


def test_a_step_not_ready_in_the_engine_cannot_be_completed(database, actors, sample):
    """SpiffWorkflow runs a task in any state; the service refuses FUTURE and COMPLETED ones."""
    iid = start(database, actors)
    with database.session() as session:
        instance = instances.get_instance(session, iid)
        runtime = definitions.runtime_of(session, instance.definition)
        workflow = runtime.load(instance.state)
        future = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "decide")
        (row,) = instances.open_tasks(session, iid)
        row.spiff_task_id = str(future.id)  # a row pointing at a FUTURE engine task
    with database.session() as session, pytest.raises(Conflict, match="not ready"):
        tasks.complete_task(session, row.id, SUBMISSION, actors["hq"])
    with database.session() as session:
        assert instances.get_instance(session, iid).status == "running"
        assert [t.bpmn_id for t in instances.open_tasks(session, iid)] == ["submit"]


def test_a_restart_loses_nothing(database_url, database, actors, sample):
    iid = start(database, actors)
    with database.session() as session:
        tasks.complete_task(
            session, instances.open_tasks(session, iid)[0].id, SUBMISSION, users.get_user(session, "hq")
        )
    database.dispose()
    engine_runtime._CACHE.clear()  # a new process has no parsed specs cached

    fresh = Database(database_url, {"limits": Limits()})
    with fresh.session() as session:
        assert sorted(t.bpmn_id for t in instances.open_tasks(session, iid)) == ["review_planning", "review_water"]
        for task in instances.open_tasks(session, iid):
            tasks.complete_task(
                session,
                task.id,
                {"opinion": "agree"},
                users.get_user(session, "pnr" if task.agency_code == "PNR" else "water"),
            )
        (decide,) = instances.open_tasks(session, iid)
        tasks.complete_task(
            session,
            decide.id,
            {"decision": "approve", "approval_number": "深发改〔2026〕1号"},
            users.get_user(session, "drc"),
        )
    with fresh.session() as session:
        assert instances.get_instance(session, iid).status == "completed"
    fresh.dispose()


def test_a_model_waits_on_timers_when_it_or_a_process_it_calls_has_one(database):
    """A runtime skips looking for waiting timers only in models without any: a timer of a called
    process, or one inside an event-based gateway, counts."""
    assert deploy_files(database, [str(BPMN_DIR / "*.bpmn"), str(BPMN_DIR / "*.dmn")], FORMS_DIR) == 0
    with database.session() as session:
        gateway, _ = definitions.publish(session, (DATA / "event_gateway_timers.bpmn").read_bytes(), {}, None)
        found = {
            key: definitions.runtime_of(session, definitions.latest(session, key)).has_timers
            for key in ("sample_review", "feasibility_review", "one_book_two_certificates", "tendering")
            + ("groundbreaking", "project_lifecycle", gateway.key)
        }
    # project_lifecycle has no timer of its own: it calls tendering and groundbreaking.
    assert found == {
        "sample_review": False,
        "feasibility_review": False,
        "one_book_two_certificates": False,
        "tendering": True,
        "groundbreaking": True,
        "project_lifecycle": True,
        gateway.key: True,
    }
