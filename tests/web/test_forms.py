"""Forms drawn from a step's JSON Schema: choices and yes/no as radio buttons, conditional fields."""

from __future__ import annotations

import json

from werkzeug.datastructures import MultiDict

from approvals.web.forms import data_from, fields_of
from tests.conftest import FORMS_DIR


def _schema(name: str) -> dict:
    return json.loads((FORMS_DIR / name).read_text(encoding="utf-8"))


def test_a_required_yes_no_is_two_radio_buttons_and_untouched_is_no_answer():
    schema = _schema("fr_assess.schema.json")
    (needed,) = [f for f in fields_of(schema) if f.name == "evaluation_needed"]
    assert (needed.kind, needed.options, needed.required) == ("radio", [("true", "是"), ("false", "否")], True)
    assert "evaluation_needed" not in data_from(schema, MultiDict())  # the schema then says it is required
    assert data_from(schema, MultiDict({"evaluation_needed": "false"}))["evaluation_needed"] is False
    assert [f.posted for f in fields_of(schema, {"evaluation_needed": True}) if f.name == "evaluation_needed"] == [
        "true"
    ]


def test_choices_carry_their_titles_and_conditional_fields_name_their_condition():
    schema = _schema("fr_decision.schema.json")
    fields = {f.name: f for f in fields_of(schema)}
    assert fields["decision"].kind == "radio" and ("approve", "批准") in fields["decision"].options
    assert (fields["approval_number"].when_field, fields["approval_number"].when_values) == ("decision", ["approve"])
    assert (fields["reason"].when_field, fields["reason"].when_values) == ("decision", ["refuse"])
    assert fields["decision"].when_field == ""


def test_data_so_far_reads_with_the_forms_titles_choices_and_yes_no():
    from approvals.web.forms import readable

    forms = {
        "a.json": {
            "properties": {
                "decision": {"title": "审批结论", "enum": ["approve", "refuse"], "x-enum-titles": ["批准", "不予批准"]},
                "urgent": {"title": "是否加急", "type": "boolean"},
                "files": {"title": "批复文件", "type": "array", "items": {"type": "integer"}, "x-material": {}},
            }
        }
    }
    data = {"decision": "refuse", "urgent": False, "files": [7], "set_by_script": ["a", "b"], "project": {"x": 1}}
    shown = {s.name: s for s in readable(forms, data, ("是", "否"))}
    assert (shown["decision"].title, shown["decision"].text) == ("审批结论", "不予批准")
    assert shown["urgent"].text == "否" and shown["files"].material_ids == [7]
    assert shown["set_by_script"].text == "a、b" and "project" not in shown


def test_a_message_kept_in_a_variable_reads_under_its_catchers_form():
    """The objection the trading centre's system sent shows on 答复异议 as the form it filled, field
    by field, not as a bare variable holding a dict."""
    import re

    from approvals.engine.parser import parse_model
    from approvals.engine.runtime import ModelRuntime
    from approvals.web.forms import readable
    from tests.conftest import BPMN_DIR

    bpmn = (BPMN_DIR / "tendering.bpmn").read_bytes()
    names = set(re.findall(r"<spiffworkflow:formJsonSchemaFilename>([^<]+)<", bpmn.decode()))
    forms = {name: (FORMS_DIR / name).read_bytes() for name in names}
    parsed = parse_model(
        bpmn,
        forms,
        {lane: lane for lane in ("PWB", "TRADING", "EXPERTS", "HCB")},
        max_bytes=10**7,
        max_form_bytes=10**6,
        resolve=lambda kind, key: (BPMN_DIR / f"{key}.dmn").read_bytes(),
    )
    runtime = ModelRuntime(parsed.spec_json, parsed.lane_routes, script_timeout=5, script_memory_bytes=10**9)
    assert runtime.message_forms == {
        "opening_result": "tn_opening.schema.json",
        "candidate_objection": "tn_candidate_objection.schema.json",
    }
    objection = {"objector": "丁公司", "received_on": "2026-10-14", "summary": "第一中标候选人业绩造假"}
    schemas = {name: json.loads(body) for name, body in forms.items()}
    (shown,) = readable(schemas, {"candidate_objection": objection}, ("是", "否"), runtime.message_forms)
    assert shown.title == "对中标候选人的异议"
    assert shown.text == "异议人：丁公司\n收到异议日期：2026-10-14\n异议内容：第一中标候选人业绩造假"
