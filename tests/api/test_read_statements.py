"""What a read costs does not grow with what it lists: every API read and page sends as many
statements for a project of two instances among two projects as for one of six among six. A
statement per row shown (one per instance, per project, per step…) is caught here by name, before
a large district's data makes a page slow; and no read sends one statement twice with the same
parameters (two parts of a page asking the same thing). On SQLite only: the statements a read
sends do not depend on the database."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from approvals.demo import sample_pdf
from tests.conftest import PASSWORD
from tests.helpers import SUBMISSION, complete, create_project, open_task, start_sample, statements_sent
from tests.web.conftest import sign_in_client

PDF = sample_pdf("report")

# Readers: an agency's staff and lead, the coordinator, an observer (reads all) and an admin.
READERS = ("water", "pnr_lead", "hq", "observer", "admin")
API_READS = (
    "/api/tasks",
    "/api/tasks?state=all",
    "/api/tasks?assignee=me",
    "/api/tasks/{task}",
    "/api/tasks/{task}/send-back-targets",
    "/api/instances/{instance}",
    "/api/instances/{instance}/events",
    "/api/instances/{instance}/materials",
    "/api/projects",
    "/api/projects/P-000/status",
    "/api/projects/P-000/materials",
    "/api/incidents",
    "/api/me/notifications",
    "/api/process-definitions",
)
PAGES = (
    "/tasks",
    "/tasks?assignee=me",
    "/tasks/{task}",
    "/projects",
    "/projects/P-000",
    "/projects/P-000/export.csv",
    "/projects/export.csv",
    "/incidents",
    "/models",
)


def _grow(client, people, projects: int, instances: int) -> None:
    """Up to ``projects`` projects of one instance each but P-000, which gets ``instances``: each
    submitted with a file, reviewed by PNR (a finished step), commented on."""
    for n in range(projects):
        code = f"P-{n:03d}"
        if client.get(f"/api/projects/{code}/status", headers=people.auth("hq")).status_code == 404:
            create_project(client, people, code=code)
        have = len(client.get(f"/api/projects/{code}/status", headers=people.auth("hq")).json["instances"])
        for _ in range(have, instances if n == 0 else 1):
            instance = start_sample(client, people, code=code)
            submit = instance["open_tasks"][0]["id"]
            files = {"file": (io.BytesIO(PDF), "report.pdf")}
            assert (
                client.post(f"/api/tasks/{submit}/materials", data=files, headers=people.auth("hq")).status_code == 201
            )
            assert complete(client, people, "hq", submit, SUBMISSION).status_code == 200
            review = open_task(client, people, "pnr", "review_planning", instance["id"])
            assert complete(client, people, "pnr", review["id"], {"opinion": "agree"}).status_code == 200
            comment = {"text": "请水务局尽快出具意见"}
            answer = client.post(f"/api/instances/{instance['id']}/comments", json=comment, headers=people.auth("hq"))
            assert answer.status_code == 201, answer.json


def _statements(app, client, people, ids: dict[str, int]) -> dict[tuple[str, str], tuple[int, list]]:
    """(reader, path) -> (status, the statements sent, with their parameters) for every read, as each reader."""
    engine = app.extensions["approvals_db"].engine
    sent_by: dict[tuple[str, str], tuple[int, list]] = {}
    for reader in READERS:
        pages = sign_in_client(app, reader, password=PASSWORD)
        reads = [(client, path, people.auth(reader)) for path in API_READS] + [(pages, path, {}) for path in PAGES]
        for asker, path, headers in reads:
            with statements_sent(engine) as sent:
                answer = asker.get(path.format(**ids), headers=headers)
            assert answer.status_code in (200, 403), (reader, path, answer.status_code)
            sent_by[(reader, path)] = (answer.status_code, sent)
    return sent_by


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_read_sends_a_statement_per_row_it_shows(app, client, people, sample):
    _grow(client, people, projects=2, instances=2)
    first = client.get("/api/projects/P-000/status", headers=people.auth("hq")).json["instances"][0]["id"]
    water = open_task(client, people, "water", "review_water", first)  # open: WATER's page, its targets
    ids = {"task": water["id"], "instance": first}
    _statements(app, client, people, ids)  # what a process keeps once read (a model's forms, the directory)
    small = _counted(_statements(app, client, people, ids))
    _grow(client, people, projects=6, instances=6)
    large = _counted(_statements(app, client, people, ids))
    grew = {read: (small[read], large[read]) for read in small if large[read] != small[read]}
    assert grew == {}, f"(status, statements) with 2 then 6 instances and projects: {grew}"


def _counted(sent_by: dict[tuple[str, str], tuple[int, list]]) -> dict[tuple[str, str], tuple[int, int]]:
    return {read: (status, len(sent)) for read, (status, sent) in sent_by.items()}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_read_asks_the_database_the_same_thing_twice(app, client, people, sample):
    """A read that sends one statement twice with the same parameters does work twice (on
    PostgreSQL each is a round trip): two parts of a page that need the same rows share them."""
    _grow(client, people, projects=2, instances=2)
    first = client.get("/api/projects/P-000/status", headers=people.auth("hq")).json["instances"][0]["id"]
    water = open_task(client, people, "water", "review_water", first)
    twice = {}
    for read, (_, sent) in _statements(app, client, people, {"task": water["id"], "instance": first}).items():
        asked = Counter((sql, repr(params)) for sql, params in sent)
        repeated = [" ".join(sql.split())[:120] for (sql, _), times in asked.items() if times > 1]
        if repeated:
            twice[read] = repeated
    assert twice == {}, f"statements sent twice by one read: {twice}"
