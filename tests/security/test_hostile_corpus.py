"""Every file of the hostile corpus (tests/data/hostile/) is refused on publish naming the problem,
or, when the attack only shows at run time, stops its own instance and nothing else."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from approvals.models import ProcessDefinition
from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import SUBMISSION, complete, create_project, open_task, post_files

CORPUS = Path(__file__).parent.parent / "data" / "hostile"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text())
FORMS = read_forms(BPMN_DIR / "sample_review.bpmn")
MARKER = Path("/tmp/approvals-pwned-marker")  # noqa: S108 - the file the payloads try to create
REFUSED = sorted(name for name, case in EXPECTED.items() if "refused" in case)
AT_RUNTIME = sorted(name for name, case in EXPECTED.items() if "runtime_error" in case)


def test_the_corpus_is_complete_and_every_file_has_an_expectation():
    files = {p.name for p in CORPUS.glob("*.bpmn")}
    assert files == set(EXPECTED) and len(files) >= 30


def publish(client, people, name: str):
    return post_files(
        client,
        people,
        "owner",
        [("bpmn", name, (CORPUS / name).read_bytes())] + [("forms", n, b) for n, b in FORMS.items()],
    )


@pytest.fixture(autouse=True)
def no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a hostile payload ran"


@pytest.mark.parametrize("name", REFUSED)
def test_refused_on_publish_naming_the_problem(client, people, database, name):
    expected = EXPECTED[name]
    response = publish(client, people, name)
    assert response.status_code in (413, 422), response.json
    problems = response.json["errors"]["bpmn"]
    assert any(expected["refused"] in p["message"] for p in problems), problems
    if "element" in expected:
        assert expected["element"] in {p["element"] for p in problems}, problems
    with database.session() as session:
        assert session.query(ProcessDefinition).count() == 0


@pytest.mark.parametrize("name", AT_RUNTIME)
def test_runtime_attacks_stop_only_their_own_instance(client, people, database, sample, name):
    create_project(client, people)
    bystander = client.post(
        "/api/projects/P-001/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    ).json
    hostile = publish(client, people, name)
    assert hostile.status_code == 201, hostile.json  # version 2 of sample_review, with the script
    started = client.post(
        "/api/projects/P-001/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    )
    assert started.status_code == 201, started.json
    assert started.json["status"] == "error" and started.json["error"]["element"] == "calc"
    assert EXPECTED[name]["runtime_error"] in started.json["error"]["message"], started.json["error"]
    # The instance that was running before goes on as if nothing happened.
    submit = open_task(client, people, "hq", "submit", bystander["id"])
    assert complete(client, people, "hq", submit["id"], SUBMISSION).status_code == 200
    assert client.get(f"/api/instances/{bystander['id']}", headers=people.auth("hq")).json["status"] == "running"
