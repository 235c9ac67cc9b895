"""Schemathesis over /api/openapi.json against a live server: no 5xx, and every response as documented."""

from __future__ import annotations

import io
from collections import Counter
from itertools import cycle

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from approvals.demo import sample_pdf
from approvals.services import users
from tests.helpers import SUBMISSION, complete, create_project, start_sample

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples generated per operation (valid and invalid ones); with 35 operations 1 400 requests a database.
EXAMPLES = 40
# The callers the cases take turns as: the coordinator, staff holding steps, a lead, an admin.
CALLERS = ("hq", "pnr", "water", "drc_lead", "admin")


@pytest.fixture
def known(client, people, sample):
    """Data worth poking at: a project, an instance with a finished submission (and its material)
    and open reviews; returns the real values each path parameter may take."""
    create_project(client, people)
    instance = start_sample(client, people)
    submit = instance["open_tasks"][0]["id"]
    material = client.post(
        f"/api/tasks/{submit}/materials",
        headers=people.auth("hq"),
        data={"file": (io.BytesIO(sample_pdf("x")), "x.pdf")},
    ).json
    done = complete(client, people, "hq", submit, SUBMISSION).json
    return {
        "instance_id": [instance["id"]],
        "task_id": [submit] + [t["id"] for t in done["open_tasks"]],
        "material_id": [material["id"]],
        "code": ["P-001"],
        "key": ["sample_review"],
        "version": [1],
        "year": [2026],
        "substitution_id": [1],
    }


def with_known_ids(strategy, known):
    """Half the cases aim their path parameters at things that exist, so they get past 404."""

    def aim(case, picks):
        for name in case.path_parameters or {}:
            if name in known:
                case.path_parameters[name] = picks.draw(st.sampled_from(known[name]))
        return case

    return st.one_of(strategy, st.builds(aim, strategy, st.data()))


def test_no_server_errors_and_documented_responses(known, database, live_server):
    # Driven by hand rather than through schemathesis' pytest plugin, which does not run on pytest 9.
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")
    with database.session() as session:
        tokens = cycle([users.issue_token(session, users.get_user(session, name), days=1)[0] for name in CALLERS])
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    def send(case):
        label = case.operation.label
        sent[label] += 1
        token = next(tokens)
        if label == "DELETE /api/tokens/current":  # revokes the token it is sent with
            with database.session() as session:
                token = users.issue_token(session, users.get_user(session, "hq"), days=1)[0]
        response = case.call_and_validate(
            base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )
        statuses[response.status_code] += 1

    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(*(operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))

        @given(case=with_known_ids(cases, known))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )  # the same cases on every CI run
        def fuzz(case):
            send(case)

        fuzz()
    assert len(sent) >= 35 and sum(sent.values()) >= 1000, sent
    assert statuses[404] < sum(statuses.values()) // 2, statuses  # most cases reached real data
    print(f"schemathesis: {sum(sent.values())} requests over {len(sent)} operations; statuses {dict(statuses)}")
