"""Model tests that owners write: run in a throw-away engine, required to pass at publish."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from approvals.models import Event, ProcessDefinition, ProcessInstance, Task
from tests.conftest import BPMN_DIR, read_forms
from tests.helpers import SUBMISSION, create_project, post_files, start_sample

SAMPLE = BPMN_DIR / "sample_review.bpmn"
# The decision opens Monday 2026-09-21 (20 WD: due 2026-10-26) and is made Monday 2026-10-19, having
# counted Sep 22-24 and 28-30 (6; Sep 25 is Mid-Autumn), Oct 8, 9, 10 (a make-up Saturday: 9),
# Oct 12-16 (14) and Oct 19: 15 working days.
APPROVE = {
    "name": "两家同意后批准",
    "start": {"on": "2026-09-21"},
    "steps": [
        {"step": "submit", "agency": "HQ", "data": SUBMISSION},
        {"step": "review_planning", "agency": "PNR", "data": {"opinion": "agree"}},
        {"step": "review_water", "agency": "WATER", "data": {"opinion": "agree"}},
        {
            "step": "decide",
            "agency": "DRC",
            "on": "2026-10-19",
            "data": {"decision": "approve", "approval_number": "1"},
        },
    ],
    "expect": {
        "end": "end_approved",
        "result": "批准",
        "open": [],
        "due": {"decide": "2026-10-26"},
        "workdays": {"decide": 15},
    },
}


def _files(tests, bpmn: bytes | None = None):
    files = [("bpmn", "m.bpmn", bpmn or SAMPLE.read_bytes())]
    files += [("forms", name, body) for name, body in read_forms(SAMPLE).items()]
    return files + [("tests", "tests.json", json.dumps(tests, ensure_ascii=False).encode())]


def _counts(database):
    with database.session() as session:
        return [
            session.scalar(select(func.count()).select_from(t))
            for t in (ProcessInstance, Task, Event, ProcessDefinition)
        ]


def test_cases_run_without_touching_live_instances_or_the_history(client, people, sample, database):
    create_project(client, people)
    start_sample(client, people)  # a live instance the runner must leave alone
    before = _counts(database)
    wrong = {**APPROVE, "name": "期限算错了", "expect": {**APPROVE["expect"], "due": {"decide": "2026-10-20"}}}
    ran = post_files(client, people, "owner", _files([APPROVE, wrong]), path="/api/process-definitions/tests")
    assert ran.status_code == 200, ran.json
    passed, failed = ran.json
    assert passed == {
        "name": "两家同意后批准",
        "passed": True,
        "failures": [],
        "path": [s["step"] for s in APPROVE["steps"]],
    }
    assert failed["passed"] is False
    assert failed["failures"] == [{"step": "decide", "message": "decide is due 2026-10-26, not 2026-10-20"}]
    assert _counts(database) == before


def test_each_kind_of_failure_names_the_case_and_step(client, people, sample):
    cases = [
        {"name": "走错路", "steps": [{"step": "decide"}]},
        {"name": "单位不对", "steps": [{"step": "submit", "agency": "PNR", "data": SUBMISSION}]},
        {"name": "表单不收", "steps": [{"step": "submit", "data": {"estimated_investment": -1}}]},
        {"name": "没有结束", "steps": [{"step": "submit", "data": SUBMISSION}], "expect": {"end": "end_approved"}},
        {"name": "计时器", "steps": [{"timer": "nothing_waits"}]},
    ]
    ran = post_files(client, people, "owner", _files(cases), path="/api/process-definitions/tests").json
    said = {case["name"]: case["failures"][0] for case in ran}
    assert said["走错路"] == {"step": "decide", "message": "decide is not open; open: submit"}
    assert said["单位不对"] == {"step": "submit", "message": "submit is at HQ, not PNR"}
    assert said["表单不收"]["step"] == "submit" and "application_title" in said["表单不收"]["message"]
    assert said["没有结束"] == {"step": None, "message": "ended at no end event, not end_approved"}
    assert said["计时器"] == {"step": "nothing_waits", "message": "timer nothing_waits is not waiting"}


def test_publishing_keeps_the_tests_and_refuses_a_draft_whose_tests_fail(client, people, sample):
    published = post_files(client, people, "owner", _files([APPROVE]))
    assert published.status_code == 201, published.json
    kept = client.get("/api/process-definitions/sample_review/versions/2/tests", headers=people.auth("pnr")).json
    assert kept == [APPROVE]
    # A new version that moves the decision to PNR: the kept case now fails, and nothing is stored.
    moved = (
        SAMPLE.read_text()
        .replace("<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>", "")
        .replace(
            "<bpmn:flowNodeRef>review_planning</bpmn:flowNodeRef>",
            "<bpmn:flowNodeRef>review_planning</bpmn:flowNodeRef><bpmn:flowNodeRef>decide</bpmn:flowNodeRef>",
        )
    )
    files = [("bpmn", "m.bpmn", moved.encode())]
    refused = post_files(client, people, "owner", files)
    assert refused.status_code == 422
    assert refused.json["errors"]["bpmn"] == [
        {"element": "decide", "message": "test case '两家同意后批准': decide is at PNR, not DRC"}
    ]
    versions = client.get("/api/process-definitions/sample_review/versions", headers=people.auth("pnr")).json
    assert [v["version"] for v in versions] == [2, 1]


def test_malformed_cases_are_refused_naming_the_field(client, people, sample):
    for tests, said in (
        ("not json", "not JSON"),
        ([{"steps": []}], "'name' is a required property"),
        ([{"name": "x", "steps": [{"step": "submit", "on": "tomorrow"}]}], "steps.0.on"),
        ([{"name": "x", "steps": [{"data": {}}]}], "steps.0"),
    ):
        body = tests.encode() if isinstance(tests, str) else json.dumps(tests).encode()
        files = _files([])[:-1] + [("tests", "t.json", body)]
        refused = post_files(client, people, "owner", files, path="/api/process-definitions/tests")
        assert refused.status_code == 422, refused.json
        assert said in json.dumps(refused.json, ensure_ascii=False), refused.json
    assert (
        post_files(client, people, "pnr", _files([APPROVE]), path="/api/process-definitions/tests").status_code == 403
    )


def test_a_case_delivers_messages_as_an_agencys_system_would(client, people):
    """A step ``{"message": …}`` delivers as POST /api/messages does: something must wait for it,
    in the sending agency's lane, and the data must fill the catcher's form."""
    from tests.api.test_messages import CATCHERS, REQUEST_FORM

    request = {"package": "施工总承包", "estimate": 4000000}
    cases = [
        {
            "name": "消息走完",
            "steps": [
                {"message": "tender_request", "agency": "HQ", "data": request},
                {"step": "review", "agency": "DRC"},
                {"message": "note", "data": {"text": "补充说明"}},
                {"message": "fee_paid", "agency": "HQ", "data": {"paid_on": "2026-10-01"}},
            ],
            "expect": {"end": "end", "open": []},
        },
        {"name": "没人等", "steps": [{"message": "fee_paid"}]},
        {"name": "系统不对", "steps": [{"message": "tender_request", "agency": "DRC", "data": request}]},
        {"name": "数据不全", "steps": [{"message": "tender_request", "data": {"package": "施工"}}]},
    ]
    files = [
        ("bpmn", "m.bpmn", CATCHERS),
        ("forms", "mc_request.schema.json", REQUEST_FORM),
        ("tests", "tests.json", json.dumps(cases, ensure_ascii=False).encode()),
    ]
    ran = post_files(client, people, "owner", files, path="/api/process-definitions/tests")
    assert ran.status_code == 200, ran.json
    said = {case["name"]: case for case in ran.json}
    assert said["消息走完"]["passed"], said["消息走完"]
    assert said["消息走完"]["path"] == ["tender_request", "review", "note", "fee_paid"]
    assert said["没人等"]["failures"] == [
        {"step": "fee_paid", "message": "nothing waits for message fee_paid; waiting: note, tender_request"}
    ]
    assert said["系统不对"]["failures"] == [
        {"step": "tender_request", "message": "message tender_request is for HQ, not DRC"}
    ]
    assert said["数据不全"]["failures"] == [
        {
            "step": "tender_request",
            "message": "message tender_request's data does not fill form mc_request.schema.json: "
            "estimate: this field is required",
        }
    ]


def test_a_case_fires_either_timer_of_an_event_based_gateway(client, people):
    """SpiffWorkflow keeps an event-based gateway's timers on the gateway: a case still fires the one
    it names, and the path follows that one."""
    model = (BPMN_DIR.parent / "tests" / "data" / "event_gateway_timers.bpmn").read_bytes()
    cases = [
        {"name": f"{timer}先到", "steps": [{"timer": timer}], "expect": {"end": f"end_{timer}"}}
        for timer in ("soon", "late")
    ]
    files = [("bpmn", "m.bpmn", model), ("tests", "tests.json", json.dumps(cases, ensure_ascii=False).encode())]
    ran = post_files(client, people, "owner", files, path="/api/process-definitions/tests")
    assert ran.status_code == 200, ran.json
    assert [(case["path"], case["passed"]) for case in ran.json] == [(["soon"], True), (["late"], True)], ran.json
