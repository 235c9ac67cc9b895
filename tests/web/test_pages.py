"""The pages without a browser: sign-in, CSRF, rights, language, forms and errors (both databases)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import time_machine

from approvals.models import Event, Task
from approvals.services import agencies
from tests.conftest import AGENCIES, BPMN_DIR, PASSWORD
from tests.helpers import create_project, open_review, start_sample


def csrf(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def signed_in(app, username: str):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def review(client, people, sample):
    """A sample instance whose PNR review is open."""
    return open_review(client, people)


def test_sign_in_and_out(app, people):
    client = app.test_client()
    assert client.get("/tasks").headers["Location"].startswith("/login")
    wrong = client.post("/login", data={"username": "pnr", "password": "nope", "csrf_token": csrf(client)})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.get_data(as_text=True)
    client = signed_in(app, "pnr")
    page = client.get("/tasks").get_data(as_text=True)
    assert "pnr" in page and "PNR" in page and "经办人员" in page  # who, their agency, their role
    token = csrf(client, "/tasks")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/tasks").status_code == 302  # the session's token is revoked


def test_sign_in_is_rate_limited(app, people):
    client = app.test_client()
    with time_machine.travel(datetime.now(UTC), tick=False):  # no time passes: the delay holds
        for _ in range(3):
            client.post("/login", data={"username": "pnr", "password": "nope", "csrf_token": csrf(client)})
        refused = client.post("/login", data={"username": "pnr", "password": PASSWORD, "csrf_token": csrf(client)})
    assert refused.status_code == 401 and "登录失败次数过多" in refused.get_data(as_text=True)


def test_every_form_needs_its_csrf_token(app, people, review):
    client = signed_in(app, "pnr")
    refused = client.post(f"/tasks/{review['id']}/claim")
    assert refused.status_code == 400
    assert client.post(f"/tasks/{review['id']}/claim", data={"csrf_token": csrf(client, "/tasks")}).status_code == 303
    assert app.test_client().post("/login", data={"username": "pnr", "password": PASSWORD}).status_code == 400


def test_english_switch(app, people):
    client = signed_in(app, "pnr")
    assert "待办" in client.get("/tasks").get_data(as_text=True)
    client.get("/lang/en")
    page = client.get("/tasks").get_data(as_text=True)
    assert "Inbox" in page and "My steps" in page and "待办" not in page


def test_every_page_names_the_users_agency_in_its_language_as_the_directory_has_it(app, people, database, tmp_path):
    client = signed_in(app, "pnr")

    def affiliation() -> str:
        page = client.get("/tasks").get_data(as_text=True)
        return re.sub(r"\s+", " ", re.search(r'class="affiliation">(.*?)</span>', page, re.S).group(1))

    assert "市规划和自然资源局 (PNR)" in affiliation()
    client.get("/lang/en")
    assert "Planning and Natural Resources Bureau (PNR)" in affiliation()
    renamed = tmp_path / "agencies.toml"
    renamed.write_text(AGENCIES.read_text(encoding="utf-8").replace("Natural Resources Bureau", "Land Bureau"), "utf-8")
    with database.session() as session:
        agencies.load_agencies(session, renamed)
    assert "Planning and Land Bureau (PNR)" in affiliation()  # every process reads the directory again


def test_form_errors_show_by_the_field_and_change_nothing(app, people, review, database):
    client = signed_in(app, "pnr")
    token = csrf(client, "/tasks")
    with database.session() as session:
        events = session.query(Event).count()
    page = client.post(f"/tasks/{review['id']}/complete", data={"csrf_token": token, "_opinion": "看过了"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert re.search(r'data-field="opinion".*?此项为必填项', html, re.S)
    with database.session() as session:
        assert session.query(Event).count() == events and session.get(Task, review["id"]).state == "open"
    done = client.post(f"/tasks/{review['id']}/complete", data={"csrf_token": token, "opinion": "agree"})
    assert done.status_code == 303
    with database.session() as session:
        assert session.get(Task, review["id"]).state == "completed"


def test_rights_on_pages(app, people, review):
    water = signed_in(app, "water")
    assert water.get(f"/tasks/{review['id']}").status_code == 403
    posted = water.post(
        f"/tasks/{review['id']}/complete",
        data={"csrf_token": csrf(water, "/tasks"), "opinion": "agree", "_opinion": "同意"},
    )
    assert posted.status_code == 403
    pnr = signed_in(app, "pnr")
    assert pnr.get("/admin").status_code == 403
    token = {"X-CSRFToken": csrf(pnr, "/tasks")}
    bpmn = (BPMN_DIR / "sample_review.bpmn").read_bytes()
    for path in ("/models/check", "/models/publish"):  # only owners and admins
        assert pnr.post(path, data=bpmn, headers=token).status_code == 403
    assert signed_in(app, "admin").get("/admin").status_code == 200
    owner = signed_in(app, "owner")
    assert owner.post("/models/check", data=bpmn, headers={"X-CSRFToken": csrf(owner, "/tasks")}).json == {
        "problems": []
    }


def test_inbox_filters_and_pages(app, people, sample, client):
    create_project(client, people)
    for _ in range(3):
        start_sample(client, people)
    hq = signed_in(app, "hq")
    page = hq.get("/tasks?process=sample_review").get_data(as_text=True)
    assert page.count('data-bpmn-id="submit"') >= 3
    assert 'data-bpmn-id="submit"' not in hq.get("/tasks?process=other").get_data(as_text=True)
    assert 'data-bpmn-id="submit"' not in hq.get("/tasks?project=NOPE").get_data(as_text=True)


def test_form_editing_validates_and_publishes_a_new_version(app, people, sample):
    owner = signed_in(app, "owner")
    path = "/models/sample_review/forms/sample_opinion.schema.json"
    token = csrf(owner, path)
    bad = owner.post(path, data={"csrf_token": token, "schema": '{"type": "object", "properties": {"x": {"type": 1}}}'})
    assert bad.status_code == 422 and "form:sample_opinion.schema.json" in bad.get_data(as_text=True)
    schema = json.loads(
        re.search(r"<textarea[^>]*>(.*?)</textarea>", owner.get(path).get_data(as_text=True), re.S)
        .group(1)
        .replace("&#34;", '"')
        .replace("&quot;", '"')
    )
    schema["properties"]["note"] = {"type": "string", "title": "备注"}
    good = owner.post(path, data={"csrf_token": token, "schema": json.dumps(schema, ensure_ascii=False)})
    assert good.status_code == 303
    assert "v2" in owner.get("/models/sample_review").get_data(as_text=True)


def test_admin_loads_a_calendar_year(app, people):
    admin = signed_in(app, "admin")
    token = csrf(admin, "/admin")
    bad = admin.post("/admin", data={"csrf_token": token, "arrangement": 'year = 2027\nwork_days = ["2027-01-04"]'})
    assert bad.status_code == 422 and "work_days" in bad.get_data(as_text=True)
    good = admin.post(
        "/admin",
        data={
            "csrf_token": token,
            "arrangement": 'year = 2027\nsource = "通知"\nrest_days = ["2027-01-01"]\nwork_days = []',
        },
    )
    assert good.status_code == 303
    page = admin.get("/admin?year=2027").get_data(as_text=True)
    assert "2027-01-01" in page and "通知" in page


def test_delegate_and_recall_from_the_step_page(app, people, review, database):
    pnr = signed_in(app, "pnr")
    token = csrf(pnr, "/tasks")
    assert pnr.post(f"/tasks/{review['id']}/claim", data={"csrf_token": token}).status_code == 303
    page = pnr.get(f"/tasks/{review['id']}").get_data(as_text=True)
    assert 'data-testid="delegate"' in page and 'value="pnr2"' in page and 'value="water"' not in page
    delegated = pnr.post(f"/tasks/{review['id']}/delegate", data={"csrf_token": token, "_username": "pnr2"})
    assert delegated.status_code == 303
    pnr2 = signed_in(app, "pnr2")
    mine = pnr2.get("/tasks").get_data(as_text=True)
    assert mine.index('data-bpmn-id="review_planning"') < mine.index("本单位待办")  # in "my steps"
    assert 'data-testid="recall"' in pnr.get(f"/tasks/{review['id']}").get_data(as_text=True)
    assert pnr.post(f"/tasks/{review['id']}/recall", data={"csrf_token": token}).status_code == 303
    with database.session() as session:
        task = session.get(Task, review["id"])
        assert (task.assignee.username, task.delegated_by_id) == ("pnr", None)


def test_out_of_office_page(app, people):
    pnr = signed_in(app, "pnr")
    token = csrf(pnr, "/away")
    bad = pnr.post(
        "/away", data={"csrf_token": token, "substitute": "pnr2", "starts_on": "2026-12-05", "ends_on": "2026-12-01"}
    )
    assert bad.status_code == 422 and re.search(r'data-field="ends_on".*?field-error', bad.get_data(as_text=True), re.S)
    good = pnr.post(
        "/away", data={"csrf_token": token, "substitute": "pnr2", "starts_on": "2099-12-01", "ends_on": "2099-12-05"}
    )
    assert good.status_code == 303
    assert "2099-12-01" in signed_in(app, "pnr2").get("/away").get_data(as_text=True)  # the substitute sees it


def test_an_owner_skips_a_step_on_the_modify_page_and_a_bad_change_keeps_the_form(app, client, people, review):
    instance_id = review["instance_id"]
    assert signed_in(app, "pnr").get(f"/instances/{instance_id}/modify").status_code == 403
    owner = signed_in(app, "owner")
    page = owner.get(f"/instances/{instance_id}/modify").get_data(as_text=True)
    assert 'value="review_water"' in page and 'value="gw_join"' in page  # what to cancel, where to start
    token = csrf(owner, f"/instances/{instance_id}/modify")
    bad = owner.post(
        f"/instances/{instance_id}/modify",
        data={"csrf_token": token, "cancel": "review_water", "data": "{not json", "reason": "线下已出具"},
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "不是 JSON" in text and "线下已出具" in text and 'value="review_water" checked' in text
    done = owner.post(
        f"/instances/{instance_id}/modify",
        data={"csrf_token": token, "cancel": "review_water", "start_before": "gw_join", "reason": "线下已出具"},
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/projects/P-001")
    still = client.get(f"/api/instances/{instance_id}", headers=people.auth("admin")).json
    assert [t["bpmn_id"] for t in still["open_tasks"]] == ["review_planning"]


def test_incident_pages_are_for_those_who_read_everything(app, people, sample):
    assert signed_in(app, "pnr").get("/incidents").status_code == 403
    observer = signed_in(app, "observer")
    assert "故障" in observer.get("/incidents").get_data(as_text=True)
    assert observer.get("/incidents/999999").status_code == 404


def test_the_model_page_moves_only_the_instances_ticked(app, client, people, review):
    from tests.helpers import publish_variant

    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    assert publish_variant(client, people, sample.replace('name="审批决定"', 'name="决定"')).status_code == 201
    owner = signed_in(app, "owner")
    page = owner.get("/models/sample_review").get_data(as_text=True)
    assert "决定" in page and f'name="instance_ids" value="{review["instance_id"]}"' in page
    token = csrf(owner, "/models/sample_review")
    form = {"csrf_token": token, "from_version": "1", "to_version": "2", "picked": "1", "action": "migrate"}
    none = owner.post("/models/sample_review/migrations", data=form)
    assert none.status_code == 422 and "请至少选择一个实例" in none.get_data(as_text=True)
    assert client.get(f"/api/instances/{review['instance_id']}", headers=people.auth("admin")).json["version"] == 1
    done = owner.post("/models/sample_review/migrations", data={**form, "instance_ids": str(review["instance_id"])})
    assert done.status_code == 200 and 'data-testid="migrated">1<' in done.get_data(as_text=True)
    assert client.get(f"/api/instances/{review['instance_id']}", headers=people.auth("admin")).json["version"] == 2
    staff = signed_in(app, "pnr")
    refused = staff.post("/models/sample_review/migrations", data={**form, "csrf_token": csrf(staff, "/tasks")})
    assert refused.status_code == 403


def test_the_modeler_publishes_only_with_a_change_note(app, people, sample):
    owner = signed_in(app, "owner")
    token = {"X-CSRFToken": csrf(owner, "/models/sample_review")}
    xml = (BPMN_DIR / "sample_review.bpmn").read_text().replace('name="审批决定"', 'name="决定"')
    preview = owner.post("/models/preview", json={"xml": xml}, headers=token).json
    assert preview["unchanged"] is False and preview["elements"]["changed"][0]["bpmn_id"] == "decide"
    assert owner.post("/models/publish", data=xml.encode(), headers=token).status_code == 400  # not {xml, note}
    missing = owner.post("/models/publish", json={"xml": xml, "note": "  "}, headers=token)
    assert missing.status_code == 422 and missing.json["field"] == "note"
    refused = owner.post(
        "/models/publish", json={"xml": xml.replace('name="WATER"', 'name="NOPE"'), "note": "n"}, headers=token
    )
    assert refused.status_code == 422 and refused.json["problems"]
    done = owner.post("/models/publish", json={"xml": xml, "note": "改名"}, headers=token)
    assert done.status_code == 200 and done.json == {"key": "sample_review", "version": 2, "created": True}
    page = owner.get("/models/sample_review?published=2").get_data(as_text=True)
    assert 'data-testid="published-note"' in page and "改名" in page


def test_form_preview_and_new_form_check_what_they_are_given(app, client, people, sample):
    owner = signed_in(app, "owner")
    token = {"X-CSRFToken": csrf(owner, "/models/sample_review")}
    url = "/models/sample_review/forms/sample_submit.schema.json/preview"
    shown = owner.post(
        url,
        data=json.dumps({"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}),
        headers=token,
    )
    assert shown.status_code == 200 and 'type="date"' in shown.json["html"]
    bad = owner.post(url, data='{"type": "array"}', headers=token)
    assert bad.status_code == 422 and "须为 type 为 'object' 的 JSON Schema" in bad.json["problems"][0]
    refused = owner.post("/models/sample_review/forms", data={"name": "../x", **{"csrf_token": token["X-CSRFToken"]}})
    assert refused.status_code == 422
    made = owner.post("/models/sample_review/forms", data={"name": "extra", "csrf_token": token["X-CSRFToken"]})
    assert made.status_code == 303 and made.headers["Location"].endswith("/forms/extra.schema.json")
    versions = client.get("/api/process-definitions/sample_review/versions", headers=people.auth("pnr")).json
    assert versions[0]["change_note"] == "新表单 extra.schema.json"
    staff = signed_in(app, "pnr")
    page = staff.get("/models/sample_review/forms/extra.schema.json").get_data(as_text=True)
    assert 'data-testid="designer"' not in page and "readonly" in page


def test_errors_on_pages_are_pages_and_on_the_api_json(app, client, people):
    browser = signed_in(app, "admin")
    html = {"Accept": "text/html,application/xhtml+xml"}
    missing = browser.get("/no/such/page", headers=html)
    assert missing.status_code == 404 and "找不到该页面" in missing.get_data(as_text=True)
    assert missing.mimetype == "text/html"
    api = client.get("/api/no/such/thing", headers={**html, **people.auth("pnr")})
    assert api.status_code == 404 and api.json["code"] == 404
    assert browser.get("/admin?year=99999", headers=html).status_code == 422
    assert browser.get("/tasks?page=999999999999999", headers=html).status_code == 200


def test_the_migration_form_refuses_numbers_out_of_range_and_moves_nothing(app, client, people, review):
    from tests.helpers import publish_variant

    sample = (BPMN_DIR / "sample_review.bpmn").read_text()
    assert publish_variant(client, people, sample.replace('name="审批决定"', 'name="决定"')).status_code == 201
    owner = signed_in(app, "owner")
    token = csrf(owner, "/models/sample_review")
    huge = "9" * 30
    for form in (
        {"from_version": huge, "to_version": "1"},
        {"from_version": "1", "to_version": "2", "picked": "1", "instance_ids": huge},
        {"from_version": "1", "to_version": "2", "picked": "1", "instance_ids": "abc"},
    ):
        refused = owner.post("/models/sample_review/migrations", data={"csrf_token": token, **form})
        assert refused.status_code == 422 and 'data-testid="migration-problems"' in refused.get_data(as_text=True)
    assert client.get(f"/api/instances/{review['instance_id']}", headers=people.auth("admin")).json["version"] == 1
