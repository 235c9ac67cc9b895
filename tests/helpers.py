"""Small helpers that drive the sample model through the API, and one that lists the statements sent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

SUBMISSION = {"application_title": "联合审查申请", "estimated_investment": 125000.5, "site": "福田区"}
APPROVAL = {"decision": "approve", "approval_number": "深发改〔2026〕12号"}


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Each statement sent on ``engine`` inside the block, as (SQL, its parameters)."""
    sent: list[tuple[str, Any]] = []
    listener = lambda _conn, _cursor, sql, params, *_: sent.append((sql, params))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def create_project(client, people, code="P-001", **extra):
    body = {"code": code, "name": "深圳金融文化中心", **extra}
    response = client.post("/api/projects", json=body, headers=people.auth("hq"))
    assert response.status_code == 201, response.json
    return response.json


def start_sample(client, people, code="P-001"):
    response = client.post(
        f"/api/projects/{code}/instances", json={"process_key": "sample_review", "data": {}}, headers=people.auth("hq")
    )
    assert response.status_code == 201, response.json
    return response.json


def open_task(client, people, username, bpmn_id, instance_id=None):
    """The open task with ``bpmn_id`` in ``username``'s agency inbox."""
    response = client.get("/api/tasks", headers=people.auth(username))
    assert response.status_code == 200, response.json
    matches = [
        t
        for t in response.json["items"]
        if t["bpmn_id"] == bpmn_id and (instance_id is None or t["instance_id"] == instance_id)
    ]
    assert matches, f"{bpmn_id} not in {username}'s inbox: {response.json['items']}"
    return matches[0]


def complete(client, people, username, task_id, data, opinion=None):
    body = {"data": data} if opinion is None else {"data": data, "opinion": opinion}
    return client.post(f"/api/tasks/{task_id}/complete", json=body, headers=people.auth(username))


def open_review(client, people):
    """A new project P-001 whose sample instance HQ submitted: PNR's review, as PNR sees it."""
    create_project(client, people)
    instance = start_sample(client, people)
    assert complete(client, people, "hq", instance["open_tasks"][0]["id"], SUBMISSION).status_code == 200
    return open_task(client, people, "pnr", "review_planning")


def submit_and_review(client, people, instance_id):
    """HQ submits, PNR and WATER agree; the decision is then open at DRC."""
    submit = open_task(client, people, "hq", "submit", instance_id)
    assert complete(client, people, "hq", submit["id"], SUBMISSION).status_code == 200
    for username, bpmn_id in (("pnr", "review_planning"), ("water", "review_water")):
        task = open_task(client, people, username, bpmn_id, instance_id)
        assert complete(client, people, username, task["id"], {"opinion": "agree"}).status_code == 200
    return open_task(client, people, "drc", "decide", instance_id)


def post_files(client, people, user, files: list[tuple[str, str | None, bytes]], path="/api/process-definitions"):
    """POST a multipart upload: (field, file name, content) each; no file name: a text field."""
    # Encoded in memory: the test client spools large bodies to a temporary file it never closes.
    boundary, body = encode_multipart(
        MultiDict(
            [
                (field, content.decode() if name is None else FileStorage(io.BytesIO(content), name))
                for field, name, content in files
            ]
        )
    )
    return client.post(
        path,
        data=body,
        headers=people.auth(user),
        content_type=f'multipart/form-data; boundary="{boundary}"',
    )


def sample_with_script(script: str) -> str:
    """The sample model with a script task ``calc`` run right after the start event."""
    from tests.conftest import BPMN_DIR

    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    task = (
        '<bpmn:scriptTask id="calc" name="计算"><bpmn:incoming>flow_start</bpmn:incoming>'
        "<bpmn:outgoing>flow_calc</bpmn:outgoing><bpmn:script>{}</bpmn:script></bpmn:scriptTask>"
        '<bpmn:sequenceFlow id="flow_calc" sourceRef="calc" targetRef="gw_resubmit" />'
    ).format(script.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    sample = sample.replace(
        '<bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="gw_resubmit" />',
        '<bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="calc" />' + task,
    )
    return sample.replace(
        "<bpmn:incoming>flow_start</bpmn:incoming>\n      <bpmn:incoming>flow_return",
        "<bpmn:incoming>flow_calc</bpmn:incoming>\n      <bpmn:incoming>flow_return",
    )


def submitted_sample(client, people, code="P-1"):
    """A sample instance whose submission HQ completed: PNR and WATER reviews are open."""
    client.post("/api/projects", json={"code": code, "name": "项目"}, headers=people.auth("hq"))
    started = client.post(
        f"/api/projects/{code}/instances", json={"process_key": "sample_review"}, headers=people.auth("hq")
    ).json
    done = client.post(
        f"/api/tasks/{started['open_tasks'][0]['id']}/complete", json={"data": SUBMISSION}, headers=people.auth("hq")
    )
    assert done.status_code == 200, done.json
    return started


def publish_variant(client, people, bpmn: str | bytes, forms: dict[str, bytes] | None = None):
    """Publish (as the owner) a variant of the sample model, with the sample's forms or ``forms``."""
    from tests.conftest import BPMN_DIR, read_forms

    forms = read_forms(BPMN_DIR / "sample_review.bpmn") if forms is None else forms
    model = bpmn.encode() if isinstance(bpmn, str) else bpmn
    return post_files(
        client, people, "owner", [("bpmn", "m.bpmn", model)] + [("forms", n, b) for n, b in forms.items()]
    )
