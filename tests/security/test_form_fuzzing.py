"""Arbitrary JSON thrown at task completion (hypothesis): every invalid submission gets 422 with
field errors and changes nothing; every valid one completes the step."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import func, select

from approvals.models import Event, ProcessInstance, Task
from tests.conftest import FORMS_DIR

SCHEMA = json.loads((FORMS_DIR / "sample_submit.schema.json").read_text())
FIELDS = sorted(SCHEMA["properties"])
# Derandomized: CI runs the same cases every time (explore with --hypothesis-seed=random locally).
FUZZ = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from([*FIELDS, "typename", "__builtins__", "_secret", "project", ""]) | st.text(max_size=12)
submissions = st.dictionaries(keys, json_values, max_size=6) | json_values


def valid_submissions():
    """Submissions the form accepts: a title, a positive investment, and any of the optional fields."""
    # Text a database can keep: no NUL, no unpaired surrogates (those are refused, see is_valid).
    letters = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
    text = st.text(letters, min_size=1, max_size=200)
    optional = {
        "site": st.text(letters, max_size=200),
        "submitted_on": st.dates().map(lambda d: d.isoformat()),
        "remarks": st.text(letters, max_size=2000),
    }
    return st.fixed_dictionaries(
        {
            "application_title": text,
            "estimated_investment": st.floats(min_value=0.01, max_value=1e12, allow_nan=False) | st.integers(1, 10**9),
        },
        optional=optional,
    )


def is_valid(data) -> bool:
    if not isinstance(data, dict):
        return False
    if any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(data)):
        return False
    if any(isinstance(v, str) and ("\x00" in v or _has_surrogate(v)) for v in _leaves(data)) or any(
        isinstance(k, str) and ("\x00" in k or _has_surrogate(k)) for k in _keys(data)
    ):
        return False  # text a database cannot keep
    return not any(Draft202012Validator(SCHEMA, format_checker=FormatChecker()).iter_errors(data))


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def snapshot(database, instance_id: int):
    with database.session() as session:
        instance = session.get(ProcessInstance, instance_id)
        rows = session.execute(
            select(Task.id, Task.state, Task.submitted_data).where(Task.instance_id == instance_id).order_by(Task.id)
        ).all()
        events = session.scalar(select(func.count(Event.id)).where(Event.instance_id == instance_id))
        return instance.state, instance.lock_version, [tuple(r) for r in rows], events


@pytest.fixture
def start(client, people, sample):
    client.post("/api/projects", json={"code": "P-F", "name": "模糊测试"}, headers=people.auth("hq"))

    def new_submission_step():
        started = client.post(
            "/api/projects/P-F/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
        ).json
        return started["id"], started["open_tasks"][0]["id"]

    return new_submission_step


def test_arbitrary_json_is_refused_field_by_field_and_changes_nothing(client, people, database, start):
    instance_id, task_id = start()

    @FUZZ
    @given(data=submissions)
    def throw(data):
        if is_valid(data):
            return  # the valid ones are the other property's business
        before = snapshot(database, instance_id)
        response = client.post(
            f"/api/tasks/{task_id}/complete",
            data=json.dumps({"data": data}),
            content_type="application/json",
            headers=people.auth("hq"),
        )
        assert response.status_code == 422, (data, response.json)
        assert response.json["errors"], response.json  # names the field at fault
        assert snapshot(database, instance_id) == before

    throw()


def test_every_valid_submission_completes(client, people, database, start):
    @FUZZ
    @given(data=valid_submissions())
    def submit(data):
        instance_id, task_id = start()
        response = client.post(f"/api/tasks/{task_id}/complete", json={"data": data}, headers=people.auth("hq"))
        assert response.status_code == 200, (data, response.json)
        assert {t["bpmn_id"] for t in response.json["open_tasks"]} == {"review_planning", "review_water"}

    submit()
