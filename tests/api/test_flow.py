"""The whole sample process through the REST API, as agencies would drive it."""

from __future__ import annotations

from tests.helpers import (
    APPROVAL,
    SUBMISSION,
    complete,
    create_project,
    open_task,
    post_files,
    start_sample,
    statements_sent,
    submit_and_review,
)


def test_start_routes_first_step_to_hq_inbox(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    assert instance["status"] == "running"
    assert [(t["bpmn_id"], t["agency"], t["state"]) for t in instance["open_tasks"]] == [("submit", "HQ", "open")]
    # HQ sees it; PNR does not.
    assert open_task(client, people, "hq", "submit")["id"] == instance["open_tasks"][0]["id"]
    assert client.get("/api/tasks", headers=people.auth("pnr")).json["items"] == []


def statements_of(app, request) -> list[str]:
    """The first word of each statement ``request()`` sends."""
    with statements_sent(app.extensions["approvals_db"].engine) as sent:
        request()
    return [sql.split(None, 1)[0] for sql, _ in sent]


def test_answers_name_the_instance_without_reading_it_again(app, client, people, sample):
    """A start's, a claim's and an instance's answer name the project, process and version, an
    upload's its step; the session keeps unchanged rows weakly, so unless the service hands them
    over, writing the answer read them again."""
    create_project(client, people)
    first = start_sample(client, people)  # the calendar, the lanes' agencies and the model are cached from here on
    answers = {}

    def start():
        answers["start"] = start_sample(client, people)

    step = first["open_tasks"][0]["id"]

    def claim():
        answers["claim"] = client.post(f"/api/tasks/{step}/claim", headers=people.auth("hq")).json

    def read():
        answers["read"] = client.get(f"/api/instances/{first['id']}", headers=people.auth("hq")).json

    def upload():
        pdf = ("file", "可研报告.pdf", b"%PDF-1.4\n%%EOF\n")
        answers["upload"] = post_files(client, people, "hq", [pdf], f"/api/tasks/{step}/materials").json

    # The caller by token; then the project with the process's latest version, or the locked
    # instance with the step, or the instance with its project and definition.
    assert statements_of(app, start).count("SELECT") == 2
    assert statements_of(app, claim).count("SELECT") == 2
    assert statements_of(app, read).count("SELECT") == 4  # and its open steps, and the calendar's revision
    assert statements_of(app, upload).count("SELECT") == 3  # the caller, the step, the files it holds already
    named = ("P-001", "sample_review", 1)
    assert (answers["start"]["project"], answers["start"]["process_key"], answers["start"]["version"]) == named
    assert (answers["claim"]["project"], answers["claim"]["process_key"], answers["claim"]["process_version"]) == named
    assert (answers["read"]["project"], answers["read"]["process_key"], answers["read"]["version"]) == named
    assert answers["upload"]["step"] == answers["claim"]["name"]


def test_claim_complete_parallel_then_decide_to_the_end(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    submit = instance["open_tasks"][0]

    claimed = client.post(f"/api/tasks/{submit['id']}/claim", headers=people.auth("hq"))
    assert claimed.status_code == 200 and claimed.json["assignee"] == "hq" and claimed.json["state"] == "claimed"

    done = complete(client, people, "hq", submit["id"], SUBMISSION)
    assert done.status_code == 200, done.json
    assert sorted((t["bpmn_id"], t["agency"]) for t in done.json["open_tasks"]) == [
        ("review_planning", "PNR"),
        ("review_water", "WATER"),
    ]

    # Each agency finds its parallel step in its own inbox, with the submitted data to read.
    planning = open_task(client, people, "pnr", "review_planning")
    detail = client.get(f"/api/tasks/{planning['id']}", headers=people.auth("pnr")).json
    assert detail["data"]["application_title"] == SUBMISSION["application_title"]
    assert detail["form_schema"]["properties"]["opinion"]["enum"][0] == "agree"
    water = open_task(client, people, "water", "review_water")
    assert complete(client, people, "pnr", planning["id"], {"opinion": "agree"}).status_code == 200
    assert client.get("/api/tasks", headers=people.auth("drc")).json["total"] == 0  # join waits for WATER
    assert (
        complete(
            client, people, "water", water["id"], {"opinion": "agree_with_conditions", "comments": "排水方案需细化"}
        ).status_code
        == 200
    )

    decide = open_task(client, people, "drc", "decide")
    finished = complete(client, people, "drc", decide["id"], APPROVAL)
    assert finished.status_code == 200
    assert finished.json == {"instance_id": instance["id"], "status": "completed", "open_tasks": []}

    status = client.get(f"/api/instances/{instance['id']}", headers=people.auth("observer")).json
    assert status["status"] == "completed" and status["ended_at"] is not None

    trail = client.get(f"/api/instances/{instance['id']}/events", headers=people.auth("observer")).json
    completions = [(e["actor"], e["payload"]["bpmn_id"]) for e in trail if e["type"] == "task.completed"]
    assert completions == [("hq", "submit"), ("pnr", "review_planning"), ("water", "review_water"), ("drc", "decide")]
    assert [e["type"] for e in trail][0] == "instance.started"
    assert trail[-1]["type"] == "instance.completed"
    assert all(e["created_at"] for e in trail)
    decided = next(e for e in trail if e["type"] == "task.completed" and e["payload"]["bpmn_id"] == "decide")
    assert decided["payload"]["outcome"] == "approve"


def test_return_for_correction_loops_back_to_hq(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    decide = submit_and_review(client, people, instance["id"])
    unexplained = complete(client, people, "drc", decide["id"], {"decision": "return", "reason": "缺少用地预审意见"})
    assert unexplained.status_code == 422 and "opinion" in unexplained.json["errors"]["json"]
    back = complete(
        client,
        people,
        "drc",
        decide["id"],
        {"decision": "return", "reason": "缺少用地预审意见"},
        opinion="请补充用地预审意见后重新报送。",
    )
    assert back.status_code == 200
    assert [(t["bpmn_id"], t["agency"]) for t in back.json["open_tasks"]] == [("submit", "HQ")]
    # Second round runs through again and can be refused.
    decide = submit_and_review(client, people, instance["id"])
    refused = complete(
        client,
        people,
        "drc",
        decide["id"],
        {"decision": "refuse", "reason": "不符合规划"},
        opinion="项目选址不符合国土空间规划，不予批准。",
    )
    assert refused.json["status"] == "completed"
    status = client.get("/api/projects/P-001/status", headers=people.auth("observer")).json
    steps = [(t["bpmn_id"], t["outcome"]) for t in status["instances"][0]["completed_tasks"]]
    assert steps.count(("submit", None)) == 2
    assert steps[-1] == ("decide", "refuse")
    assert status["instances"][0]["completed_tasks"][-1]["opinion"] == "项目选址不符合国土空间规划，不予批准。"
    trail = client.get(f"/api/instances/{instance['id']}/events", headers=people.auth("observer")).json
    opinions = [e["payload"]["opinion"] for e in trail if e["type"] == "task.completed" and e["payload"]["opinion"]]
    assert opinions == ["请补充用地预审意见后重新报送。", "项目选址不符合国土空间规划，不予批准。"]


def test_comments_join_the_history(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    path = f"/api/instances/{instance['id']}/comments"
    added = client.post(path, json={"text": "请水务局优先审查。"}, headers=people.auth("hq_lead"))
    assert added.status_code == 201 and added.json["type"] == "comment.added"
    assert client.post(path, json={"text": ""}, headers=people.auth("hq")).status_code == 422
    assert client.post(path, json={"text": "x"}, headers=people.auth("observer")).status_code == 403
    missing = client.post("/api/instances/999999/comments", json={"text": "x"}, headers=people.auth("hq"))
    assert missing.status_code == 404
    trail = client.get(f"/api/instances/{instance['id']}/events", headers=people.auth("observer")).json
    assert [(e["actor"], e["payload"]["text"]) for e in trail if e["type"] == "comment.added"] == [
        ("hq_lead", "请水务局优先审查。")
    ]


def test_project_status_shape(client, people, sample):
    create_project(client, people)
    instance = start_sample(client, people)
    status = client.get("/api/projects/P-001/status", headers=people.auth("observer"))
    assert status.status_code == 200
    body = status.json
    assert body["project"]["code"] == "P-001" and body["project"]["stage"] == ["示例联合审查 (sample joint review)"]
    (entry,) = body["instances"]
    assert entry["id"] == instance["id"] and entry["process_key"] == "sample_review" and entry["version"] == 1
    task = entry["open_tasks"][0]
    for key in (
        "id",
        "bpmn_id",
        "name",
        "agency",
        "assignee",
        "created_at",
        "due_at",
        "overdue",
        "counted_workdays",
        "limit_workdays",
    ):
        assert key in task
    assert entry["completed_tasks"] == []


def test_publishing_a_new_version_leaves_running_instances_on_theirs(client, people, sample):
    create_project(client, people)
    old = start_sample(client, people)
    xml = client.get("/api/process-definitions/sample_review/versions/1/bpmn", headers=people.auth("owner"))
    # Plain text as an attachment: XML served as XML could run script an owner slipped in (security round two).
    assert xml.status_code == 200 and xml.mimetype == "text/plain"
    assert xml.headers["Content-Disposition"] == "attachment; filename=sample_review-v1.bpmn"
    changed = xml.data.replace("审批决定".encode(), "审批决定（第二版）".encode())
    published = post_files(client, people, "owner", [("bpmn", "sample_review.bpmn", changed)])
    assert published.status_code == 201, published.json
    assert published.json["version"] == 2
    new = start_sample(client, people)
    assert client.get(f"/api/instances/{old['id']}", headers=people.auth("hq")).json["version"] == 1
    assert client.get(f"/api/instances/{new['id']}", headers=people.auth("hq")).json["version"] == 2
    assert submit_and_review(client, people, old["id"])["name"] == "审批决定"
    assert submit_and_review(client, people, new["id"])["name"] == "审批决定（第二版）"
    listing = client.get("/api/process-definitions", headers=people.auth("hq")).json
    assert [(d["key"], d["version"], d["versions"]) for d in listing] == [("sample_review", 2, 2)]
