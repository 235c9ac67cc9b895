"""Real-world models (../shared/corpus/: the BPMN MIWG suite, bpmn-js fixtures, Camunda examples):
each publishes (201) or is refused with a 4xx naming the problem, and each published one starts
into a state it can leave. Never a 5xx. The folder is required: CI lays shared/ beside the clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals.config import PROJECT_ROOT
from approvals.models import ProcessInstance
from tests.helpers import create_project, post_files

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
FILES = sorted(CORPUS.glob("*.bpmn")) if CORPUS.is_dir() else []
# What a refusal may never show: an engine's internals instead of the problem.
LEAKS = ("Traceback", "NoneType", "id None", 'id "None"', "object has no attribute")


def test_the_corpus_is_there():
    assert len(FILES) >= 100, f"expected the real-world models in {CORPUS} (see its README)"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_a_real_world_model_publishes_and_runs_or_is_refused_clearly(client, people, path: Path):
    create_project(client, people, code="C-1")
    published = post_files(client, people, "owner", [("bpmn", path.name, path.read_bytes())])
    assert published.status_code in (201, 413, 415, 422), (published.status_code, published.json)
    if published.status_code != 201:
        problems = published.json["errors"]["bpmn"]
        assert problems and all(p["message"].strip() for p in problems)
        assert not any(leak in p["message"] for p in problems for leak in LEAKS), problems
        return
    started = client.post(
        "/api/projects/C-1/instances", json={"process_key": published.json["key"]}, headers=people.auth("hq")
    )
    assert started.status_code in (201, 409, 422), (started.status_code, started.json)
    if started.status_code != 201:
        return
    instance = started.json
    if instance["status"] == "running":  # it waits on someone, or on a timer
        detail = client.get(f"/api/instances/{instance['id']}", headers=people.auth("admin")).json
        assert detail["open_tasks"] or _waits_on_a_timer(client, instance["id"]), instance
    else:
        assert instance["status"] in ("completed", "error"), instance
        if instance["status"] == "error":
            assert instance["error"]["message"], instance


def _waits_on_a_timer(client, instance_id: int) -> bool:
    with client.application.extensions["approvals_db"].session(read_only=True) as session:
        return session.get(ProcessInstance, instance_id).next_timer_at is not None
