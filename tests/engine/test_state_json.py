"""An instance's saved state is written with orjson (every step saves one): it reads back exactly
as the standard library's state did, dates, decimals and Chinese text included, and what orjson
cannot write (an integer over 64 bits) is written by the standard library instead."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from approvals.engine.serializer import _ENCODER, REGISTRY

DATA = {
    "application_title": "可研报告：某区人民医院",
    "estimated_investment": 12_345,
    "due": date(2026, 12, 31),
    "received_at": datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    "amount": Decimal("1234.50"),
    "ratio": 0.125,
    "parts": ["土建", "安装"],
    "nested": {"level": 2, "empty": None, "flag": True},
}


def _submitted(runtime, data):
    workflow = runtime.start({})
    (submit,) = runtime.ready_steps(workflow)
    runtime.complete(workflow, submit.task_id, data)
    return workflow


def _data_of(workflow, bpmn_id="review_planning"):
    return next(t.data for t in workflow.get_tasks() if t.task_spec.bpmn_id == bpmn_id)


def test_a_state_reads_back_with_its_data_as_it_was(runtime):
    workflow = _submitted(runtime, DATA)
    state = runtime.dump(workflow)
    again = _data_of(runtime.load(state))
    assert {key: again[key] for key in DATA} == DATA
    assert type(again["due"]) is date and type(again["amount"]) is Decimal
    # The same document the standard library's encoder writes, in fewer bytes (text as UTF-8, not \u escapes).
    library = json.dumps(REGISTRY.convert(workflow), cls=_ENCODER, separators=(",", ":"))
    assert json.loads(state) == json.loads(library)
    assert "可研报告" in state and len(state.encode()) < len(library)


@pytest.mark.parametrize("big", [2**64, -(2**63) - 1, 10**30])
def test_an_integer_orjson_cannot_write_is_kept_exactly(runtime, big):
    workflow = _submitted(runtime, {**DATA, "estimated_investment": big})
    again = _data_of(runtime.load(runtime.dump(workflow)))
    assert again["estimated_investment"] == big and type(again["estimated_investment"]) is int
