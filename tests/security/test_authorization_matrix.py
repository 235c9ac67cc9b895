"""Who may do what: every endpoint of the OpenAPI document against every kind of caller.

One state is built once (a sample instance whose PNR review is claimed by ``pnr``, a material on
HQ's finished submission, a substitution of pnr2 for pnr) and restored before each case, so every
cell of the table is one request against the same state. Authorization does not depend on the
database, so the matrix runs on SQLite; the API tests run the same rules on PostgreSQL too.
"""

from __future__ import annotations

import io
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from approvals import migrate
from approvals.app import create_app
from approvals.db import Database
from approvals.demo import sample_pdf
from approvals.engine.errors import EngineFailure
from approvals.models import Material, Task
from approvals.services import agencies, definitions, incidents, instances, projects, substitutes, tasks, users
from approvals.services.limits import Limits
from tests.conftest import AGENCIES, BPMN_DIR, PASSWORD, read_forms
from tests.helpers import SUBMISSION

# The callers: no token; staff of the step's agency (who holds it); staff of an agency with no step
# in the process; the step agency's lead; a process owner; an admin; an observer; HQ (coordinator) staff.
ROLES = ("anonymous", "pnr", "fire", "pnr_lead", "owner", "admin", "observer", "hq")
USERS = [
    ("pnr", "PNR", "staff"),
    ("pnr2", "PNR", "staff"),
    ("fire", "FIRE", "staff"),
    ("pnr_lead", "PNR", "lead"),
    ("owner", "HQ", "owner"),
    ("admin", "HQ", "admin"),
    ("observer", "HQ", "observer"),
    ("hq", "HQ", "staff"),
]

# fmt: off
R, W = 200, 201  # read / created
#                                                            anon  pnr  fire lead owner admin obs  hq
MATRIX = {
    ("post", "/api/tokens"):                                 (W,   W,   W,   W,   W,   W,   W,   W),
    ("delete", "/api/tokens/current"):                       (401, 204, 204, 204, 204, 204, 204, 204),
    ("get", "/api/agencies"):                                (401, R,   R,   R,   R,   R,   R,   R),
    ("get", "/api/process-definitions"):                     (401, R,   R,   R,   R,   R,   R,   R),
    ("post", "/api/process-definitions"):                    (401, 403, 403, 403, R,   R,   403, 403),
    ("post", "/api/process-definitions/preview"):            (401, 403, 403, 403, R,   R,   403, 403),
    ("post", "/api/process-definitions/tests"):              (401, 403, 403, 403, R,   R,   403, 403),
    ("get", "/api/process-definitions/{key}/versions"):      (401, R,   R,   R,   R,   R,   R,   R),
    ("get", "/api/process-definitions/{key}/versions/{version}/tests"):
                                                             (401, R,   R,   R,   R,   R,   R,   R),
    ("get", "/api/process-definitions/{key}/versions/{version}/bpmn"):
                                                             (401, R,   R,   R,   R,   R,   R,   R),
    ("get", "/api/process-definitions/{key}/versions/{version}/diff"):
                                                             (401, R,   R,   R,   R,   R,   R,   R),
    # The state has one version: moving it to itself is refused (422), after the rights were checked.
    ("post", "/api/process-definitions/{key}/migrations"):   (401, 403, 403, 403, 422, 422, 403, 403),
    ("get", "/api/projects"):                                (401, R,   R,   R,   R,   R,   R,   R),
    ("post", "/api/projects"):                               (401, 403, 403, 403, 403, W,   403, W),
    ("get", "/api/projects/{code}/status"):                  (401, R,   R,   R,   R,   R,   R,   R),
    ("post", "/api/projects/{code}/instances"):              (401, 403, 403, 403, 403, W,   403, W),
    ("get", "/api/projects/{code}/materials"):               (401, R,   R,   R,   R,   R,   R,   R),
    ("get", "/api/instances/{instance_id}"):                 (401, R,   R,   R,   R,   R,   R,   R),
    ("get", "/api/instances/{instance_id}/events"):          (401, R,   R,   R,   R,   R,   R,   R),
    ("post", "/api/instances/{instance_id}/comments"):       (401, W,   403, W,   W,   W,   403, W),
    ("post", "/api/instances/{instance_id}/suspend"):        (401, 403, 403, 403, 403, R,   403, 403),
    ("post", "/api/instances/{instance_id}/resume"):         (401, 403, 403, 403, 403, 409, 403, 403),
    ("post", "/api/instances/{instance_id}/terminate"):      (401, 403, 403, 403, 403, R,   403, 403),
    ("get", "/api/instances/{instance_id}/materials"):       (401, R,   403, R,   R,   R,   R,   R),
    ("post", "/api/instances/{instance_id}/modify"):         (401, 403, 403, 403, R,   R,   403, 403),
    ("get", "/api/tasks"):                                   (401, R,   R,   R,   R,   R,   R,   R),
    ("get", "/api/tasks/{task_id}"):                         (401, R,   403, R,   R,   R,   R,   403),
    ("post", "/api/tasks/{task_id}/claim"):                  (401, R,   403, 409, 403, 403, 403, 403),
    ("post", "/api/tasks/{task_id}/unclaim"):                (401, R,   403, R,   403, R,   403, 403),
    ("post", "/api/tasks/{task_id}/assign"):                 (401, 403, 403, R,   403, R,   403, 403),
    ("post", "/api/tasks/{task_id}/complete"):               (401, R,   403, 409, 403, 403, 403, 403),
    ("post", "/api/tasks/{task_id}/send-back"):              (401, R,   403, 409, 403, 403, 403, 403),
    ("get", "/api/tasks/{task_id}/send-back-targets"):       (401, R,   403, R,   R,   R,   R,   403),
    # Admins make service accounts' tokens; anyone may send a message, delivered only where their
    # agency's element waits (the state's instance waits for none: 404).
    ("post", "/api/tokens/service"):                         (401, 403, 403, 403, 403, W,   403, 403),
    ("post", "/api/messages"):                               (401, 404, 404, 404, 404, 404, 404, 404),
    # Everyone signed in reads and sets their own notifications.
    ("get", "/api/me/notifications"):                        (401, R,   R,   R,   R,   R,   R,   R),
    ("put", "/api/me/notifications"):                        (401, R,   R,   R,   R,   R,   R,   R),
    # Webhooks are the admins'; the state has none, so an admin's request is refused after the
    # rights check: a host the settings do not allow (422), a webhook or delivery not found (404).
    ("post", "/api/webhooks"):                               (401, 403, 403, 403, 403, 422, 403, 403),
    ("get", "/api/webhooks"):                                (401, 403, 403, 403, 403, R,   403, 403),
    ("delete", "/api/webhooks/{webhook_id}"):                (401, 403, 403, 403, 403, 404, 403, 403),
    ("get", "/api/webhooks/{webhook_id}/deliveries"):        (401, 403, 403, 403, 403, 404, 403, 403),
    ("post", "/api/webhooks/deliveries/{delivery_id}/replay"):
                                                             (401, 403, 403, 403, 403, 404, 403, 403),
    ("post", "/api/tasks/{task_id}/delegate"):               (401, R,   403, 409, 403, 403, 403, 403),
    ("post", "/api/tasks/{task_id}/recall"):                 (401, 409, 403, 403, 403, 403, 403, 403),
    ("post", "/api/tasks/{task_id}/materials"):              (401, W,   403, 409, 403, 403, 403, 403),
    ("get", "/api/materials/{material_id}"):                 (401, R,   403, R,   R,   R,   R,   R),
    ("delete", "/api/materials/{material_id}"):              (401, 403, 403, 403, 403, 403, 403, 409),
    ("get", "/api/substitutions"):                           (401, R,   R,   R,   R,   R,   R,   R),
    ("post", "/api/substitutions"):                          (401, W,   403, W,   403, W,   403, 403),
    ("delete", "/api/substitutions/{substitution_id}"):      (401, R,   403, R,   403, R,   403, 403),
    ("get", "/api/calendar/years/{year}"):                   (401, R,   R,   R,   R,   R,   R,   R),
    ("put", "/api/calendar/years/{year}"):                   (401, 403, 403, 403, 403, R,   403, 403),
    ("get", "/api/incidents"):                               (401, 403, 403, 403, R,   R,   R,   403),
    ("get", "/api/incidents/{incident_id}"):                 (401, 403, 403, 403, R,   R,   R,   403),
    ("post", "/api/incidents/{incident_id}/retry"):          (401, 403, 403, 403, 409, 409, 403, 403),
}
# fmt: on


class State:
    """The prepared database file, the ids in it, and every user's token."""

    def __init__(self, path, data_dir):
        self.path, self.data_dir = path, data_dir
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        self.task_ids: set[int] = set()  # every work item in the state, open or done
        self.material_ids: set[int] = set()


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> State:
    root = tmp_path_factory.mktemp("matrix")
    state = State(root / "template.sqlite3", root / "data")
    url = f"sqlite:///{state.path}"
    migrate.upgrade(url)
    db = Database(url, {"limits": Limits(data_dir=str(state.data_dir))})
    with db.session() as session:
        agencies.load_agencies(session, AGENCIES)
        people = {}
        for username, agency, role in USERS:
            people[username] = users.create_user(
                session, username=username, password=PASSWORD, agency_code=agency, role=role
            )
            state.tokens[username], _ = users.issue_token(session, people[username], days=1)
        path = BPMN_DIR / "sample_review.bpmn"
        definitions.publish(session, path.read_bytes(), read_forms(path), people["owner"])
        projects.create_project(session, projects.NewProject(code="P-001", name="项目"), people["hq"])
        instance, _ = instances.start_instance(session, "P-001", "sample_review", {}, people["hq"])
        (submit,) = instances.open_tasks(session, instance.id)
        material = tasks.attach_material(
            session, submit.id, people["hq"], name="r.pdf", stream=io.BytesIO(sample_pdf("r"))
        )
        tasks.complete_task(session, submit.id, SUBMISSION, people["hq"])
        review = next(t for t in instances.open_tasks(session, instance.id) if t.agency_code == "PNR")
        tasks.claim_task(session, review.id, people["pnr"])
        today = substitutes.today()
        substitution = substitutes.create_substitution(
            session, people["pnr"], substitute="pnr2", starts_on=today, ends_on=today + timedelta(days=30)
        )
        incident = incidents.record(
            session, instance, EngineFailure("a failure for the record", "review_planning"), "engine"
        )
        state.ids = {
            "incident_id": incident.id,
            "instance_id": instance.id,
            "task_id": review.id,
            "material_id": material.id,
            "substitution_id": substitution.id,
        }
        state.task_ids = set(session.scalars(select(Task.id)))
        state.material_ids = set(session.scalars(select(Material.id)))
        assert not any(t.agency_code == "FIRE" for t in session.scalars(select(Task)))  # FIRE holds nothing
    db.dispose()
    return state


@pytest.fixture(scope="module")
def app(state, tmp_path_factory):
    live = tmp_path_factory.mktemp("live") / "approvals.sqlite3"
    application = create_app({"DATABASE_URL": f"sqlite:///{live}", "DATA_DIR": str(state.data_dir), "TESTING": True})
    application.config["LIVE_PATH"] = live
    yield application
    application.extensions["approvals_db"].dispose()


@pytest.fixture
def client(app, state):
    """A client against a fresh copy of the prepared state."""
    app.extensions["approvals_db"].dispose()
    live = app.config["LIVE_PATH"]
    for suffix in ("-wal", "-shm"):
        live.with_name(live.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(state.path, live)
    return app.test_client()


def request_for(method: str, path: str, state: State):
    """The URL and a valid request for one endpoint (the body a caller with the right would send)."""
    url = path.format(
        key="sample_review", version=1, code="P-001", year=2026, webhook_id=1, delivery_id="none", **state.ids
    )
    if path.endswith("/diff"):
        url += "?against=1"  # the state has one version: compared with itself
    json = {
        ("post", "/api/tokens"): {"username": "pnr", "password": PASSWORD},
        ("post", "/api/projects"): {"code": "P-002", "name": "新项目"},
        ("post", "/api/projects/{code}/instances"): {"process_key": "sample_review"},
        ("post", "/api/instances/{instance_id}/comments"): {"text": "请加快办理"},
        ("post", "/api/instances/{instance_id}/terminate"): {"reason": "撤销"},
        ("post", "/api/instances/{instance_id}/modify"): {"reason": "重新提交", "start_before": ["submit"]},
        ("post", "/api/process-definitions/{key}/migrations"): {"from_version": 1, "to_version": 1},
        ("post", "/api/tasks/{task_id}/assign"): {"username": "pnr2"},
        ("post", "/api/tasks/{task_id}/complete"): {"data": {"opinion": "agree"}},
        ("post", "/api/tasks/{task_id}/send-back"): {"to_bpmn_id": "submit", "reason": "材料不全"},
        ("post", "/api/tasks/{task_id}/delegate"): {"username": "pnr2"},
        ("post", "/api/substitutions"): {
            "user": "pnr",
            "substitute": "pnr2",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-05",
        },
        ("put", "/api/calendar/years/{year}"): {"rest_days": ["2026-10-01"], "work_days": []},
        ("post", "/api/webhooks"): {"url": "http://127.0.0.1/hook", "events": ["*"]},
        ("put", "/api/me/notifications"): {"email": "me@example.org", "kinds": ["arrived"]},
        ("post", "/api/tokens/service"): {"username": "pnr"},
        ("post", "/api/messages"): {"name": "nothing", "project_code": "P-001"},
    }.get((method, path))
    files = None
    if (method, path) in (
        ("post", "/api/process-definitions"),
        ("post", "/api/process-definitions/preview"),
        ("post", "/api/process-definitions/tests"),
    ):
        bpmn = BPMN_DIR / "sample_review.bpmn"
        files = {"bpmn": (io.BytesIO(bpmn.read_bytes()), bpmn.name)}
    elif (method, path) == ("post", "/api/tasks/{task_id}/materials"):
        files = {"file": (io.BytesIO(sample_pdf("opinion")), "opinion.pdf")}
    return url, json, files


def test_the_matrix_covers_every_endpoint(app):
    spec = app.test_client().get("/api/openapi.json").json
    documented = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert documented == set(MATRIX)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_each_caller_gets_the_status_the_matrix_says(client, state, method, path, role):
    expected = MATRIX[(method, path)][ROLES.index(role)]
    url, json, files = request_for(method, path, state)
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {state.tokens[role]}"}
    response = client.open(url, method=method.upper(), json=json, data=files, headers=headers)
    body = response.get_data(as_text=True)
    response.close()
    assert response.status_code == expected, (role, method, path, body[:300])
    if expected in (401, 403):  # a refusal shows nothing of the resource
        assert "r.pdf" not in body and "申请" not in body


def test_anonymous_callers_learn_nothing_from_validation(client, state):
    """Without a token every endpoint answers 401, even to a malformed body or query."""
    for method, path in MATRIX:
        if path == "/api/tokens":
            continue
        url, _, _ = request_for(method, path, state)
        response = client.open(url + "?page=-1", method=method.upper(), json={"nonsense": ["x"]})
        assert response.status_code == 401, (method, path, response.json)


def test_guessing_ids_of_other_agencies_shows_nothing(client, state):
    """FIRE holds no step: every existing step or file is 403, every other id 404, and neither shows data."""
    fire = {"Authorization": f"Bearer {state.tokens['fire']}"}
    assert len(state.task_ids) >= 3 and state.material_ids  # the guesses below hit real rows too
    for task_id in range(1, max(state.task_ids) + 3):
        response = client.get(f"/api/tasks/{task_id}", headers=fire)
        assert response.status_code == (403 if task_id in state.task_ids else 404), task_id
        assert "data" not in response.json
    for material_id in range(1, max(state.material_ids) + 3):
        response = client.get(f"/api/materials/{material_id}", headers=fire)
        assert response.status_code == (403 if material_id in state.material_ids else 404), material_id
        response.close()
    inbox = client.get("/api/tasks?agency=PNR", headers=fire)
    assert inbox.status_code == 403
