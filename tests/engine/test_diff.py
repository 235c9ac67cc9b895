"""Version diffs (SpiffWorkflow's SpecDiff): what an owner added, removed and changed."""

from __future__ import annotations

from approvals.engine.parser import parse_model
from approvals.engine.serializer import diff_specs
from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import sample_with_script

LANES = {"HQ": "HQ", "PNR": "PNR", "WATER": "WATER", "DRC": "DRC"}


def _spec(text: str) -> str:
    forms = read_forms(BPMN_DIR / "sample_review.bpmn")
    model = parse_model(
        text.encode(),
        forms,
        LANES,
        max_bytes=10**7,
        max_form_bytes=10**6,
        resolve=lambda kind, key: None,
        filename="m.bpmn",
    )
    return model.spec_json


def test_a_step_added_and_removed_is_listed_as_such():
    plain = _spec((BPMN_DIR / "sample_review.bpmn").read_text())
    scripted = _spec(sample_with_script("share = 1"))
    added = diff_specs(plain, scripted)
    assert [e["bpmn_id"] for e in added["added"]] == ["calc"] and added["removed"] == []
    removed = diff_specs(scripted, plain)
    assert [e["bpmn_id"] for e in removed["removed"]] == ["calc"] and removed["added"] == []


def test_changes_are_named_as_owners_call_them():
    plain = (BPMN_DIR / "sample_review.bpmn").read_text()
    edited = (
        plain.replace('name="规划意见"', 'name="规划审查意见"')
        .replace("sample_decision.schema.json", "sample_opinion.schema.json")
        .replace("<bpmn:incoming>flow_to_decide</bpmn:incoming>", "<bpmn:incoming>flow_to_decide</bpmn:incoming>", 1)
    )
    changed = {e["bpmn_id"]: e["what"] for e in diff_specs(_spec(plain), _spec(edited))["changed"]}
    assert changed == {"review_planning": ["name"], "decide": ["form"]}
    assert all(e["process"] == "sample_review" for e in diff_specs(_spec(plain), _spec(edited))["changed"])
