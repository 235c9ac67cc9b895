from __future__ import annotations

import pytest

from approvals.engine.parser import parse_model
from approvals.engine.runtime import ModelRuntime
from tests.conftest import BPMN_DIR, read_forms


@pytest.fixture(scope="module")
def runtime() -> ModelRuntime:
    """The sample model's runtime, without a database."""
    path = BPMN_DIR / "sample_review.bpmn"
    model = parse_model(
        path.read_bytes(),
        read_forms(path),
        {a: a for a in ("HQ", "PNR", "WATER", "DRC")},
        max_bytes=10**7,
        max_form_bytes=10**6,
    )
    return ModelRuntime(model.spec_json, {}, script_timeout=1, script_memory_bytes=2**28)
