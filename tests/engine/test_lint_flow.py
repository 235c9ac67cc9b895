"""What owners get wrong when they draw: found by Check and refused at publish, naming the element."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from approvals.engine.lint_flow import check_flow
from tests.conftest import BPMN_DIR, FORMS_DIR

SAMPLE = (BPMN_DIR / "sample_review.bpmn").read_text()
FORMS = {p.name: json.loads(p.read_text()) for p in FORMS_DIR.glob("*.json")}
STRAY = '<bpmn:userTask id="stray" name="多余的任务" />'
REFUSE_FLOW = SAMPLE[SAMPLE.index('<bpmn:sequenceFlow id="flow_refuse"') : SAMPLE.index("</bpmn:process>")]


def problems(text: str) -> list[tuple[str, str]]:
    return [(p.element, p.message) for p in check_flow(etree.fromstring(text.encode()), FORMS)]


def _before_process_end(extra: str, text: str = SAMPLE) -> str:
    return text.replace("</bpmn:process>", extra + "</bpmn:process>")


def test_the_bundled_models_have_no_flow_problems():
    for path in BPMN_DIR.glob("*.bpmn"):
        assert problems(path.read_text()) == [], path.name


def test_a_stray_task_is_not_connected():
    assert problems(_before_process_end(STRAY)) == [
        ("stray", "userTask 'stray' (多余的任务) is not connected: no flow leads to it")
    ]


def test_a_task_no_flow_leaves_leads_nowhere():
    text = _before_process_end(
        '<bpmn:userTask id="dead_end" name="无出口"><bpmn:incoming>f_x</bpmn:incoming></bpmn:userTask>'
        '<bpmn:sequenceFlow id="f_x" sourceRef="gw_split" targetRef="dead_end" />'
    )
    assert (
        "dead_end",
        "userTask 'dead_end' (无出口) leads nowhere: no flow leaves it (end the path with an end event)",
    ) in problems(text)


def test_a_loop_with_no_way_out_is_found():
    text = _before_process_end(
        '<bpmn:sequenceFlow id="f_in" sourceRef="gw_split" targetRef="gw_loop" />'
        '<bpmn:exclusiveGateway id="gw_loop" name="循环" />'
        '<bpmn:userTask id="again" name="再来一次" />'
        '<bpmn:sequenceFlow id="f_a" sourceRef="gw_loop" targetRef="again" />'
        '<bpmn:sequenceFlow id="f_b" sourceRef="again" targetRef="gw_loop" />'
    )
    found = problems(text)
    assert (
        "gw_loop",
        "exclusiveGateway 'gw_loop' (循环): no path from here reaches an end event (a loop with no way out?)",
    ) in found
    assert any(element == "again" for element, _ in found)


def test_a_decision_the_form_allows_but_no_flow_takes():
    without_refuse = SAMPLE.replace(REFUSE_FLOW, "").replace("<bpmn:outgoing>flow_refuse</bpmn:outgoing>", "")
    without_refuse = without_refuse.replace("<bpmn:incoming>flow_refuse</bpmn:incoming>", "")
    found = problems(without_refuse)
    assert (
        "gw_decision",
        "when userTask 'decide' (审批决定) answers decision = 'refuse', no flow of exclusiveGateway 'gw_decision' "
        "(决定结果) applies: add a flow for it or a default flow",
    ) in found
    with_default = without_refuse.replace(
        '<bpmn:exclusiveGateway id="gw_decision"', '<bpmn:exclusiveGateway id="gw_decision" default="flow_return"'
    )
    assert not any(element == "gw_decision" for element, _ in problems(with_default))


def test_two_flows_with_the_same_condition():
    text = SAMPLE.replace('decision == "refuse"', 'decision ==  "approve"')
    assert any(
        element == "gw_decision" and "'flow_approve' and 'flow_refuse'" in message and "same condition" in message
        for element, message in problems(text)
    )


@pytest.mark.parametrize("condition", ['decision == "refuse"', "decision in ('refuse',)"])
def test_plain_tests_count_as_covering(condition):
    assert problems(SAMPLE.replace('decision == "refuse"', condition)) == []


def test_a_decision_read_from_a_step_without_a_form():
    text = SAMPLE.replace(
        "<spiffworkflow:formJsonSchemaFilename>sample_decision.schema.json</spiffworkflow:formJsonSchemaFilename>", ""
    )
    forms = {k: v for k, v in FORMS.items() if "decision" not in v.get("properties", {})}
    found = [(p.element, p.message) for p in check_flow(etree.fromstring(text.encode()), forms)]
    assert found == [
        (
            "decide",
            "exclusiveGateway 'gw_decision' (决定结果) decides on decision, but userTask 'decide' (审批决定) before it "
            "has no form, and no form or script of the model sets it",
        )
    ]
