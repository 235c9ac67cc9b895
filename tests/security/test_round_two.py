"""What an outside test found after the first hardening (security round two), one test per class."""

from __future__ import annotations

import concurrent.futures
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
import time_machine
from click.testing import CliRunner

from approvals.app import create_app
from approvals.cli import main
from approvals.config import PROJECT_ROOT
from approvals.db import Database
from approvals.demo import sample_pdf
from approvals.models import LoginFailure, Material, ProcessDefinition, Project, utcnow
from approvals.services import materials, tasks
from approvals.services.errors import InvalidInput, PayloadTooLarge
from approvals.services.limits import Limits
from approvals.web.redirects import local_path
from tests.api.test_materials import upload
from tests.conftest import BPMN_DIR, PASSWORD
from tests.factories import start, user
from tests.helpers import SUBMISSION, complete, create_project, open_review, post_files, publish_variant, start_sample
from tests.web.test_pages import csrf

# -- 3. open redirects: only paths of this site, parsed and rebuilt -----------------------------

HOSTILE_TARGETS = [
    "//evil.example/phish",
    "/\t/evil.example/phish",
    "/%09/evil.example/phish".replace("%09", "\t"),
    "/\\evil.example",
    "\\\\evil.example",
    "/\r\n/x",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\u202e/evil",
    " /tasks",
    "tasks",
    "",
]


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_a_hostile_target_is_not_a_local_path(target):
    assert local_path(target) is None


def test_local_paths_are_rebuilt_with_their_query():
    assert local_path("/tasks?project=P-1&page=2") == "/tasks?project=P-1&page=2"
    assert local_path("/tasks#x") == "/tasks"
    assert local_path("http://localhost/projects/P-1?x=1", host="localhost") == "/projects/P-1?x=1"
    assert local_path("http://evil.example/projects", host="localhost") is None


@pytest.mark.parametrize("target", ["/%09/evil.example/phish", "//evil.example", "/%5Cevil.example", "/\r\n/x"])
def test_sign_in_never_sends_the_browser_off_site(app, people, target):
    client = app.test_client()
    response = client.post(
        "/login",
        query_string={"next": target.replace("%09", "\t").replace("%5C", "\\")},
        data={"username": "pnr", "password": PASSWORD, "csrf_token": csrf(client)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks"


def test_sign_in_returns_to_the_page_asked_for(app, people):
    client = app.test_client()
    response = client.post(
        "/login",
        query_string={"next": "/projects?page=1"},
        data={"username": "pnr", "password": PASSWORD, "csrf_token": csrf(client)},
    )
    assert response.headers["Location"] == "/projects?page=1"


def test_the_language_switch_only_returns_to_this_site(client):
    away = client.get("/lang/en", headers={"Referer": "https://evil.example/x"})
    assert away.headers["Location"] == "/tasks"
    back = client.get("/lang/en", headers={"Referer": "http://localhost/projects?page=2"})
    assert back.headers["Location"] == "/projects?page=2"


# -- 6. the session cookie: SameSite and Secure applied, and its token is no API key ----------


def _signed_in(app):
    client = app.test_client()
    response = client.post("/login", data={"username": "pnr", "password": PASSWORD, "csrf_token": csrf(client)})
    return client, response


def test_the_session_cookie_is_httponly_and_samesite_lax(app, people):
    _, response = _signed_in(app)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_the_session_cookie_is_secure_when_configured(people, database_url, data_dir, monkeypatch):
    monkeypatch.setenv("APPROVALS_SESSION_COOKIE_SECURE", "1")
    app = create_app({"DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "TESTING": True})
    try:
        _, response = _signed_in(app)
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        app.extensions["approvals_db"].dispose()


def test_a_page_sessions_token_is_refused_by_the_api(app, people):
    client, _ = _signed_in(app)
    with client.session_transaction() as cookie:
        token = cookie["token"]  # what anyone who reads the (signed, not encrypted) cookie sees
    assert client.get("/tasks").status_code == 200
    refused = app.test_client().get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


def test_an_api_token_does_not_open_a_page_session(app, people):
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["token"] = people.tokens["pnr"]
    assert client.get("/tasks").status_code == 302  # to the sign-in page


# -- 7. security headers ----------------------------------------------------------------------


def test_pages_and_api_answers_carry_the_security_headers(app, people):
    client, _ = _signed_in(app)
    for response in (
        client.get("/tasks"),
        client.get("/login"),
        app.test_client().get("/api/agencies", headers=people.auth("pnr")),
    ):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
    static = client.get("/static/app.css")
    assert static.headers["X-Content-Type-Options"] == "nosniff" and "no-store" not in static.headers.get(
        "Cache-Control", ""
    )
    static.close()


def test_no_page_has_an_inline_script(app, people):
    """The policy forbids inline script: every template loads its scripts from files."""

    templates = PROJECT_ROOT / "src" / "approvals" / "web" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name  # no inline event handlers either


# -- 8. names with control or direction-changing characters -----------------------------------


@pytest.mark.parametrize(
    "name", ["plan\r\nSet-Cookie: x=1.pdf", "report\u202efdp.pdf", "tab\there.pdf", "\x1b[31m.pdf"]
)
def test_a_material_name_with_control_or_bidi_characters_is_refused(client, people, sample, database, name):
    review = open_review(client, people)
    response = upload(client, people, "pnr", review["id"], sample_pdf("x"), name)
    assert response.status_code == 422 and "file" in response.json["errors"]["files"]
    numbered = upload(client, people, "pnr", review["id"], sample_pdf("x"), "ok.pdf", document_number="深\n发改")
    assert numbered.status_code == 422 and "document_number" in numbered.json["errors"]["form"]
    with database.session() as session:
        assert session.query(Material).count() == 0


def test_a_name_stored_before_the_rule_still_downloads(client, people, sample, database):
    review = open_review(client, people)
    stored = upload(client, people, "pnr", review["id"], sample_pdf("x"), "old.pdf").json
    with database.session() as session:
        session.get(Material, stored["id"]).name = "old\r\nname\u202e.pdf"
    response = client.get(f"/api/materials/{stored['id']}", headers=people.auth("pnr"))
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "oldname.pdf" in disposition
    response.close()


@pytest.mark.parametrize(
    ("field", "value"), [("name", "项目\x1b[2J"), ("name", "项目\u202e"), ("owner_unit", "单位\r\n")]
)
def test_project_names_refuse_control_characters(client, people, field, value):
    response = client.post(
        "/api/projects", json={"code": "P-9", "name": "项目", field: value}, headers=people.auth("hq")
    )
    assert response.status_code == 422 and field in response.json["errors"]["json"]


# -- 14. the CLI prints no terminal escape sequences -----------------------------------------


def test_status_strips_control_characters_from_stored_names(database_url, database, people, sample):
    with database.session() as session:
        start(session, code="P-ESC")
        session.query(Project).filter_by(code="P-ESC").one().name = "项目\x1b]0;owned\x07\x1b[2J"  # stored long ago
    result = CliRunner().invoke(main, ["--database-url", database_url, "status", "P-ESC"], catch_exceptions=False)
    assert result.exit_code == 0 and "P-ESC 项目]0;owned[2J" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output


# -- 16. tags cannot be forged from user data ---------------------------------------------------


def test_start_data_carrying_a_tag_is_refused(client, people, sample):
    client.post("/api/projects", json={"code": "P-1", "name": "项目"}, headers=people.auth("hq"))
    response = client.post(
        "/api/projects/P-1/instances",
        json={"process_key": "sample_review", "data": {"n": {"$approvals": "decimal", "value": "sNaN"}}},
        headers=people.auth("hq"),
    )
    assert response.status_code == 422 and "n.$approvals" in response.json["errors"]["json"]["data"]


# -- 17. comments follow the instance's read rule and stop when it ends -----------------------


def test_comments_are_for_those_taking_part_and_stop_when_the_instance_ends(client, people, sample, database):
    review = open_review(client, people)
    instance_id = review["instance_id"]

    def comment(user):
        return client.post(f"/api/instances/{instance_id}/comments", json={"text": "请加快"}, headers=people.auth(user))

    assert comment("drc").status_code == 403  # DRC holds no step of this instance (yet)
    assert comment("pnr").status_code == 201 and comment("hq").status_code == 201
    terminated = client.post(
        f"/api/instances/{instance_id}/terminate", json={"reason": "撤销"}, headers=people.auth("admin")
    )
    assert terminated.status_code == 200
    assert comment("pnr").status_code == 409
    events = client.get(f"/api/instances/{instance_id}/events", headers=people.auth("admin")).json
    assert [e["actor"] for e in events if e["type"] == "comment.added"] == ["pnr", "hq"]


# -- 12. oversized numbers are a 422 everywhere, never a 500 ----------------------------------


@pytest.mark.parametrize(
    "body",
    ['{"username": "pnr", "password": ' + "9" * 5000 + "}", '{"username": 1e999, "password": "x"}', '{"x": NaN}'],
)
def test_oversized_numbers_are_refused_even_anonymously(client, body):
    response = client.post("/api/tokens", data=body, content_type="application/json")
    assert response.status_code == 422 and "_body" in response.json["errors"]["json"]


def test_a_form_number_with_absurd_digits_is_refused_and_changes_nothing(client, people, sample):
    create_project(client, people)
    submit = start_sample(client, people)["open_tasks"][0]["id"]
    body = '{"data": {"application_title": "x", "site": "y", "estimated_investment": ' + "1" * 4000 + "}}"
    response = client.post(
        f"/api/tasks/{submit}/complete", data=body, content_type="application/json", headers=people.auth("hq")
    )
    assert response.status_code == 422
    assert client.get(f"/api/tasks/{submit}", headers=people.auth("hq")).json["state"] == "open"
    fine = client.post(f"/api/tasks/{submit}/complete", json={"data": SUBMISSION}, headers=people.auth("hq"))
    assert fine.status_code == 200


# -- 1. no stored XSS through a model file -----------------------------------------------------

SCRIPTED = {
    "XHTML": '<h:script xmlns:h="http://www.w3.org/1999/xhtml">fetch("/api/tasks")</h:script>',
    "SVG": '<svg:svg xmlns:svg="http://www.w3.org/2000/svg"><svg:script>alert(1)</svg:script></svg:svg>',
}


def _with_extension(markup: str) -> bytes:
    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    assert "<bpmn:extensionElements>" in sample
    return sample.replace("<bpmn:extensionElements>", "<bpmn:extensionElements>" + markup, 1).encode()


@pytest.mark.parametrize("kind", sorted(SCRIPTED))
def test_a_model_carrying_markup_a_browser_runs_is_refused(client, people, database, kind):
    response = post_files(client, people, "owner", [("bpmn", "m.bpmn", _with_extension(SCRIPTED[kind]))])
    assert response.status_code == 422
    assert any(f"{kind} markup" in p["message"] and p["element"] for p in response.json["errors"]["bpmn"])
    with database.session() as session:
        assert session.query(ProcessDefinition).count() == 0


def test_a_model_with_an_xml_stylesheet_is_refused(client, people):
    sample = (BPMN_DIR / "sample_review.bpmn").read_bytes()
    styled = sample.replace(b"?>", b'?>\n<?xml-stylesheet type="text/xsl" href="x.xsl"?>', 1)
    response = post_files(client, people, "owner", [("bpmn", "m.bpmn", styled)])
    assert response.status_code == 422 and "xml-stylesheet" in str(response.json["errors"])


def test_model_files_download_inert_from_the_api_and_the_pages(app, client, people, sample):
    api = client.get("/api/process-definitions/sample_review/versions/1/bpmn", headers=people.auth("pnr"))
    page_client, _ = _signed_in(app)
    page = page_client.get("/models/sample_review/versions/1/bpmn")
    for response in (api, page):
        assert response.status_code == 200 and response.mimetype == "text/plain"
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert b"<bpmn:definitions" in response.data


# -- 2. the history and the status show a step's answers only to readers of the step ------------


def _disagree(client, people, review):
    """PNR disagrees with a written opinion that only readers of its step may see."""
    answer = {"opinion": "disagree", "comments": "用地性质不符"}
    assert complete(client, people, "pnr", review["id"], answer, opinion="用地不符").status_code == 200


def test_the_history_leaves_out_what_the_caller_may_not_read(client, people, sample):
    review = open_review(client, people)  # HQ submitted SUBMISSION
    instance_id = review["instance_id"]
    assert upload(client, people, "pnr", review["id"], sample_pdf("x"), "opinion.pdf").status_code == 201
    _disagree(client, people, review)

    def trail(user):
        response = client.get(f"/api/instances/{instance_id}/events", headers=people.auth(user))
        assert response.status_code == 200
        return {e["type"]: e["payload"] for e in response.json}

    drc = trail("drc")  # DRC takes no part yet: 403 on the steps and materials, and nothing of them here
    assert "data" not in drc["instance.started"] and "data" not in drc["task.completed"]
    assert "opinion" not in drc["task.completed"] and "sha256" not in drc["material.uploaded"]
    assert "opinion" in drc["task.completed"]["redacted"] and "sha256" in drc["material.uploaded"]["redacted"]
    assert drc["task.completed"]["name"] and drc["material.uploaded"]["name"] == "opinion.pdf"  # where it stands
    assert "用地不符" not in str(drc) and "联合审查申请" not in str(drc)

    observer = trail("observer")  # a read-all role sees everything
    assert observer["task.completed"]["opinion"] == "用地不符" and "redacted" not in observer["task.completed"]
    pnr = trail("pnr")
    assert pnr["task.completed"]["opinion"] == "用地不符" and pnr["material.uploaded"]["sha256"]


def test_the_project_status_shows_opinions_only_to_readers_of_the_step(client, people, sample):
    _disagree(client, people, open_review(client, people))

    def opinions(user):
        status = client.get("/api/projects/P-001/status", headers=people.auth(user)).json
        return {t["bpmn_id"]: t["opinion"] for i in status["instances"] for t in i["completed_tasks"]}

    assert opinions("drc")["review_planning"] is None  # DRC may not read PNR's step
    assert opinions("pnr")["review_planning"] == "用地不符" and opinions("admin")["review_planning"] == "用地不符"


# -- 11 and 13. timer cycles bounded; every expression-bearing element checked at publish -------


def _sample_with(process_extra: str = "", definitions_extra: str = "") -> bytes:
    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    sample = sample.replace("</bpmn:process>", process_extra + "</bpmn:process>", 1)
    return sample.replace("<bpmn:process ", definitions_extra + "<bpmn:process ", 1).encode()


def _boundary(definition: str) -> str:
    return (
        '<bpmn:boundaryEvent id="watch" attachedToRef="review_planning" cancelActivity="false">'
        f"<bpmn:outgoing>flow_watch</bpmn:outgoing>{definition}</bpmn:boundaryEvent>"
        '<bpmn:endEvent id="watched"><bpmn:incoming>flow_watch</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="flow_watch" sourceRef="watch" targetRef="watched" />'
    )


@pytest.mark.parametrize(
    ("cycle", "words"),
    [
        ('"R/PT1S"', "at most 100"),
        ('"R500/P1D"', "at most 100"),
        ('"R3/PT1M"', "once an hour"),
        ("reminder_cycle", "quoted ISO 8601 cycle"),
    ],
)
def test_a_timer_cycle_must_be_bounded(client, people, cycle, words):
    model = _sample_with(
        _boundary(f"<bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>")
    )
    response = publish_variant(client, people, model)
    assert response.status_code == 422, response.json
    assert any(p["element"] == "watch" and words in p["message"] for p in response.json["errors"]["bpmn"])


def test_a_bounded_daily_reminder_cycle_publishes(client, people):
    model = _sample_with(
        _boundary('<bpmn:timerEventDefinition><bpmn:timeCycle>"R5/P1D"</bpmn:timeCycle></bpmn:timerEventDefinition>')
    )
    response = publish_variant(client, people, model)
    assert response.status_code == 201, response.json


def test_conditional_event_conditions_are_checked_at_publish(client, people):
    condition = (
        "<bpmn:conditionalEventDefinition><bpmn:condition>().__class__</bpmn:condition>"
        "</bpmn:conditionalEventDefinition>"
    )
    response = publish_variant(client, people, _sample_with(_boundary(condition)))
    assert response.status_code == 422, response.json
    assert any(p["element"] == "watch" and "conditional event" in p["message"] for p in response.json["errors"]["bpmn"])


def test_correlation_expressions_are_checked_at_publish(client, people):
    correlation = (
        '<bpmn:message id="resubmitted" name="resubmitted" />'
        '<bpmn:correlationProperty id="by_code" name="by_code">'
        '<bpmn:correlationPropertyRetrievalExpression messageRef="resubmitted">'
        "<bpmn:messagePath>__import__('os').system('id')</bpmn:messagePath>"
        "</bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>"
    )
    response = publish_variant(client, people, _sample_with(definitions_extra=correlation))
    assert response.status_code == 422, response.json
    assert any(p["element"] == "by_code" and "correlation" in p["message"] for p in response.json["errors"]["bpmn"])


# -- 9. sign-in: throttled by address and name, counted even under concurrency, pruned ---------


def test_concurrent_guesses_are_counted_each(live_server, people, database):
    """40 guesses at once from one address: three get their password checked, the rest wait."""

    def guess(_):
        return requests.post(f"{live_server.url}/api/tokens", json={"username": "drc", "password": "guess"}, timeout=60)

    with time_machine.travel(datetime.now(UTC), tick=False):  # the burst takes no time: no delay runs out
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = sorted(response.status_code for response in pool.map(guess, range(40)))
    assert statuses == [401] * 3 + [429] * 37
    with database.session() as session:
        assert session.query(LoginFailure).count() == 3


def test_old_attempts_are_pruned_and_success_clears_its_own(client, people, database):
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(2):
            assert client.post("/api/tokens", json={"username": "drc", "password": "guess"}).status_code == 401
        assert client.post("/api/tokens", json={"username": "pnr", "password": PASSWORD}).status_code == 201
    with database.session() as session:
        assert session.query(LoginFailure).count() == 2  # the success left no row
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert client.post("/api/tokens", json={"username": "hq", "password": PASSWORD}).status_code == 201
    with database.session() as session:
        assert session.query(LoginFailure).count() == 0


# -- 4. expressions read; they never change the data ----------------------------------------------


def test_a_condition_that_changes_the_data_is_refused_at_publish(client, people):
    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    hostile = sample.replace('decision == "approve"', "data.update({'typename': 'BpmnWorkflow'}) or True", 1)
    response = publish_variant(client, people, hostile.encode())
    assert response.status_code == 422
    assert any("method 'update' is not allowed" in p["message"] for p in response.json["errors"]["bpmn"])


def test_a_decision_table_cell_that_changes_the_data_is_refused_at_publish(client, people):
    dmn = (BPMN_DIR / "tender_thresholds.dmn").read_text()
    cells = re.findall(r"<text>([^<]+)</text>", dmn)
    hostile = dmn.replace(f"<text>{cells[-1]}</text>", "<text>data.clear() or 1</text>", 1)
    response = post_files(client, people, "owner", [("bpmn", "tender_thresholds.dmn", hostile.encode())])
    assert response.status_code == 422, response.json
    assert any("method 'clear' is not allowed" in p["message"] for p in response.json["errors"]["bpmn"])


# -- 5. the disk cannot be filled by ordinary staff -------------------------------------------


def test_files_of_a_refused_submission_are_collected_after_the_grace_period(database, people, sample):
    with database.session() as session:
        _, (submit,) = start(session)
    with database.session() as session:
        hq = user(session, "hq")
        refused = tasks.Upload(None, "refused.pdf", io.BytesIO(sample_pdf("refused")))
        with pytest.raises(InvalidInput):
            tasks.complete_with_uploads(session, submit.id, [refused], {"application_title": ""}, hq)
        kept = tasks.Upload(None, "kept.pdf", io.BytesIO(sample_pdf("kept")))
        tasks.complete_with_uploads(session, submit.id, [kept], SUBMISSION, hq)
        store = materials.store_of(session)
    assert len(store.blobs()) == 2  # the refused file's bytes are still on disk
    with database.session(read_only=True) as session:
        assert materials.collect_garbage(session) == 0  # too young: its row might not be committed yet
        assert materials.collect_garbage(session, utcnow() + timedelta(hours=2)) == 1
    with database.session(read_only=True) as session:
        (material,) = session.query(Material).all()
        assert [name for name, _, _ in store.blobs()] == [material.sha256]
        assert store.path_of(material.sha256).read_bytes() == sample_pdf("kept")


def test_withdrawn_files_still_count_toward_the_step_limit(database_url, data_dir, people, sample):
    size = len(sample_pdf("first"))
    tight = Database(database_url, {"limits": Limits(data_dir=str(data_dir), max_task_material_bytes=size + size // 2)})
    try:
        with tight.session() as session:
            _, (submit,) = start(session)
            hq = user(session, "hq")
            first = tasks.attach_material(session, submit.id, hq, name="a.pdf", stream=io.BytesIO(sample_pdf("first")))
            tasks.withdraw_material(session, first.id, hq)
            with pytest.raises(PayloadTooLarge):
                tasks.attach_material(session, submit.id, hq, name="b.pdf", stream=io.BytesIO(sample_pdf("again")))
    finally:
        tight.dispose()


def test_process_data_is_bounded_on_start_and_on_completion(client, people, sample):
    create_project(client, people)
    big = {"notes": "长" * 100_000}  # 300 KB of UTF-8, over the 256 KiB a request may add
    started = client.post(
        "/api/projects/P-001/instances",
        json={"process_key": "sample_review", "data": big},
        headers=people.auth("hq"),
    )
    assert started.status_code == 422 and "data" in started.json["errors"]["json"]


def test_a_submission_over_the_data_limit_is_refused_though_its_form_allows_it(people, sample, database_url, data_dir):
    """The form lets remarks run to 2 000 characters; with a 1 KiB limit the submission is too big."""
    tight = create_app(
        {"DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "TESTING": True, "MAX_DATA_BYTES": 1024}
    )
    try:
        client = tight.test_client()
        create_project(client, people)
        submit = start_sample(client, people)["open_tasks"][0]["id"]
        long = {**SUBMISSION, "remarks": "长" * 1000}  # 3 000 bytes
        done = client.post(f"/api/tasks/{submit}/complete", json={"data": long}, headers=people.auth("hq"))
        assert done.status_code == 422 and "data" in done.json["errors"]["json"]
        assert client.get(f"/api/tasks/{submit}", headers=people.auth("hq")).json["state"] == "open"
        assert (
            client.post(
                f"/api/tasks/{submit}/complete", json={"data": SUBMISSION}, headers=people.auth("hq")
            ).status_code
            == 200
        )
    finally:
        tight.extensions["approvals_db"].dispose()


# -- 15. routing reads only the project's facts, and never routes to the starting agency ---------


def _routed_sample(expression: str) -> bytes:
    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    lane = (
        '<bpmn:lane id="Lane_PNR" name="规划审查">'
        "<bpmn:extensionElements><spiffworkflow:properties>"
        f'<spiffworkflow:property name="routing" value="{expression}"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>"
    )
    return sample.replace('<bpmn:lane id="Lane_PNR" name="PNR">', lane, 1).encode()


def test_routing_may_not_read_process_data(client, people):
    response = publish_variant(client, people, _routed_sample("route_to if route_to else 'PNR'"))
    assert response.status_code == 422
    assert any(
        p["element"] == "Lane_PNR" and "only the project's facts" in p["message"]
        for p in response.json["errors"]["bpmn"]
    )


def test_start_data_cannot_steer_routing_and_routing_never_picks_the_starter(client, people, database):
    routed = "'HQ' if project['funding_level'] == 'district' else 'PNR'"
    assert publish_variant(client, people, _routed_sample(routed)).status_code == 201
    for code, level in (("P-M", "municipal"), ("P-D", "district")):
        body = {"code": code, "name": "项目", "funding_level": level}
        assert client.post("/api/projects", json=body, headers=people.auth("hq")).status_code == 201
    results = {}
    for code in ("P-M", "P-D"):
        started = client.post(
            f"/api/projects/{code}/instances",
            json={"process_key": "sample_review", "data": {"funding_level": "district"}},  # has no effect
            headers=people.auth("hq"),
        ).json
        done = client.post(
            f"/api/tasks/{started['open_tasks'][0]['id']}/complete",
            json={"data": SUBMISSION},
            headers=people.auth("hq"),
        )
        assert done.status_code == 200
        results[code] = done.json
    assert {t["agency"] for t in results["P-M"]["open_tasks"]} == {"PNR", "WATER"}
    assert results["P-D"]["status"] == "error"  # HQ started it: the review may not go to HQ
    instance = client.get(f"/api/instances/{results['P-D']['instance_id']}", headers=people.auth("hq")).json
    assert "the agency that started the process" in instance["error"]["message"]
    assert instance["error"]["element"] == "review_planning"


def test_an_instance_s_saved_state_is_bounded(people, sample, database_url, data_dir):
    """A submission that would grow the instance past its bound is refused and changes nothing.
    (The sample's state is about 9 KB after its start; remarks of 2 000 characters add about 6 KB.)"""
    tight = create_app(
        {"DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "TESTING": True, "MAX_INSTANCE_STATE_BYTES": 12_000}
    )
    try:
        client = tight.test_client()
        create_project(client, people)
        submit = start_sample(client, people)["open_tasks"][0]["id"]
        grown = {**SUBMISSION, "remarks": "长" * 2000}
        done = client.post(f"/api/tasks/{submit}/complete", json={"data": grown}, headers=people.auth("hq"))
        assert done.status_code == 422 and "would grow to" in done.json["message"]
        assert client.get(f"/api/tasks/{submit}", headers=people.auth("hq")).json["state"] == "open"
        fine = client.post(f"/api/tasks/{submit}/complete", json={"data": SUBMISSION}, headers=people.auth("hq"))
        assert fine.status_code == 200
    finally:
        tight.extensions["approvals_db"].dispose()
