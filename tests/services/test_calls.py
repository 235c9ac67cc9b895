"""Call activities and decision tables resolved across published definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals.services import definitions, instances, projects, tasks, users
from approvals.services.errors import ModelInvalid
from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import SUBMISSION, statements_sent

DATA = Path(__file__).parent.parent / "data"


def publish(database, path: Path, forms=None):
    with database.session() as session:
        definition, _ = definitions.publish(session, path.read_bytes(), forms or {}, None)
        return definition


def test_a_caller_needs_its_callees_published_first(database):
    with pytest.raises(ModelInvalid) as refused:
        publish(database, DATA / "parent_calls.bpmn")
    elements = {p["element"]: p["message"] for p in refused.value.errors["bpmn"]}
    assert "not published" in elements["call_review"] and "not published" in elements["check"]


def test_the_deploy_order_puts_callees_first(database):
    files = {
        str(p): p.read_bytes()
        for p in (DATA / "parent_calls.bpmn", DATA / "threshold_test.dmn", BPMN_DIR / "sample_review.bpmn")
    }
    with database.session() as session:
        order = definitions.publication_order(session, files)
    assert order.index(str(DATA / "parent_calls.bpmn")) == 2


@pytest.mark.parametrize("estimate, called", [(5_000_000, True), (1_000_000, False)])
def test_decision_table_and_call_activity_run_in_one_instance(database, people, estimate, called):
    publish(database, BPMN_DIR / "sample_review.bpmn", read_forms(BPMN_DIR / "sample_review.bpmn"))
    dmn = publish(database, DATA / "threshold_test.dmn")
    assert (dmn.kind, dmn.key, dmn.version) == ("dmn", "threshold_test", 1)
    parent = publish(database, DATA / "parent_calls.bpmn")
    assert "sample_submit.schema.json" in parent.forms  # the callee's forms travel with the caller

    with database.session() as session:
        admin = users.get_user(session, "admin")
        projects.create_project(session, projects.NewProject(code="C-1", name="调用"), admin)
        instance, _ = instances.start_instance(session, "C-1", "parent_calls", {"estimate": estimate}, admin)
        open_steps = instances.open_tasks(session, instance.id)
        if not called:
            assert instance.status == "completed" and open_steps == []
            return
        # The called process's first step is open in the caller's instance, routed by the callee's lane.
        assert [(t.bpmn_id, t.agency_code) for t in open_steps] == [("submit", "HQ")]
        tasks.complete_task(session, open_steps[0].id, SUBMISSION, users.get_user(session, "hq"))
        for step in instances.open_tasks(session, instance.id):
            tasks.complete_task(
                session,
                step.id,
                {"opinion": "agree"},
                users.get_user(session, "pnr" if step.agency_code == "PNR" else "water"),
            )
        (decide,) = instances.open_tasks(session, instance.id)
        tasks.complete_task(
            session, decide.id, {"decision": "approve", "approval_number": "1"}, users.get_user(session, "drc")
        )
        assert instances.get_instance(session, instance.id).status == "completed"


def test_a_decision_table_with_code_is_refused(database):
    bad = (DATA / "threshold_test.dmn").read_text().replace("&gt;= 4000000", "__import__('os')")
    with pytest.raises(ModelInvalid) as refused, database.session() as session:
        definitions.publish(session, bad.encode(), {}, None)
    assert refused.value.errors["bpmn"][0]["element"] == "rule_big"


def _calling(key: str, called: list[str]) -> bytes:
    """Model ``key``, whose call activities call the processes ``called`` one after the other (its stages)."""
    flows = [
        f'<bpmn:sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}" />'
        for n, (a, b) in enumerate(zip(["start", *called], [*called, "end"], strict=True))
    ]
    calls = [
        f'<bpmn:callActivity id="{name}" calledElement="{name}"><bpmn:incoming>f{n}</bpmn:incoming>'
        f"<bpmn:outgoing>f{n + 1}</bpmn:outgoing></bpmn:callActivity>"
        for n, name in enumerate(called)
    ]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D_{key}" targetNamespace="x">
  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    {"".join(calls)}
    <bpmn:endEvent id="end"><bpmn:incoming>f{len(called)}</bpmn:incoming></bpmn:endEvent>
    {"".join(flows)}
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_a_models_stages_are_named_in_one_statement_however_many_it_calls(database):
    """A lifecycle's page and status name each stage by its process's latest name: asked in one
    statement for all of them, not one per stage."""
    sample, forms = (BPMN_DIR / "sample_review.bpmn").read_text(), read_forms(BPMN_DIR / "sample_review.bpmn")
    stages = {key: f"阶段 {key[-1].upper()}" for key in ("stage_a", "stage_b", "stage_c", "stage_d")}
    lifecycles = {"calls_two": ["stage_a", "stage_b"], "calls_four": list(stages)}
    with database.session() as session:
        for key, name in stages.items():
            definitions.publish(
                session, sample.replace("sample_review", key).replace("示例联合审查", name).encode(), forms, None
            )
        models = [
            definitions.publish(session, _calling(key, called), {}, None)[0] for key, called in lifecycles.items()
        ]
    sent_by = {}
    with database.session(read_only=True) as session:
        for model in models:
            definition = session.get(type(model), model.id)
            definitions.stages_of(session, definition)  # what a process keeps once read: the model's calls
            with statements_sent(database.engine) as sent:
                named = definitions.stages_of(session, definition)
            sent_by[model.key] = len(sent)
            assert [label for label, _ in named] == [
                f"{stages[key]} (sample joint review)" for key in lifecycles[model.key]
            ]
    assert sent_by == {"calls_two": 1, "calls_four": 1}
