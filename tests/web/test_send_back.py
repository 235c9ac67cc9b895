"""Send back (退回) that people can trust, on the demo's SZ-IPAC, whose planning opinions run in
parallel at three agencies: only targets the engine accepts are offered, a send back that cancels
other agencies' steps names them and asks first, a refused one keeps what was typed, and the step
sent back to says who sent it back and why, with its earlier answers filled in."""

from __future__ import annotations

import re

import pytest

from approvals.models import Task, TaskState, User
from approvals.services import projects, send_back
from approvals.services.errors import InvalidInput
from tests.web.conftest import csrf_of, sign_in_client


def open_step(database, bpmn_id: str, code: str = "SZ-IPAC") -> int:
    with database.session() as session:
        instance = projects.get_project(session, code).instances[0]
        return next(t.id for t in instance.tasks if t.bpmn_id == bpmn_id and t.state in ("open", "claimed"))


def offered(page: str) -> list[str]:
    form = page.split('data-testid="send-back-form"', 1)[1].split("</form>", 1)[0]
    return re.findall(r'<option value="([^"]+)"', form)


def test_only_the_steps_the_engine_accepts_are_offered(fresh_demo_app):
    app, database = fresh_demo_app
    task_id = open_step(database, "traffic_opinion")
    page = sign_in_client(app, "transport_staff").get(f"/tasks/{task_id}").get_data(as_text=True)
    listed = offered(page)
    assert "design_scheme" in listed
    assert not {"water_opinion", "fire_review", "traffic_opinion"} & set(listed)  # parallel or itself
    with database.session() as session:
        task = session.get(Task, task_id)
        done = {t.bpmn_id for t in task.instance.tasks if t.state == TaskState.COMPLETED and t.is_step}
        staff = session.query(User).filter_by(username="transport_staff").one()
    # Every completed step is tried: the ones offered are accepted, the others refused.
    for bpmn_id in sorted(done):
        session = database.write_sessions()
        try:
            send_back.send_back(session, task_id, bpmn_id, "试退回", session.get(User, staff.id))
            accepted = True
        except InvalidInput:
            accepted = False
        finally:
            session.rollback()
            session.close()
        assert accepted == (bpmn_id in listed), bpmn_id


def test_a_send_back_that_cancels_parallel_steps_names_them_and_asks_first(fresh_demo_app):
    app, database = fresh_demo_app
    task_id = open_step(database, "traffic_opinion")
    client = sign_in_client(app, "transport_staff")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "_to_bpmn_id": "design_scheme", "_reason": "方案缺交通组织图"}
    asked = client.post(f"/tasks/{task_id}/send-back", data=form)
    assert asked.status_code == 200
    confirm = asked.get_data(as_text=True).split('data-testid="send-back-confirm"', 1)[1].split("</div>", 1)[0]
    assert "排水及水土保持意见" in confirm and "消防设计审查" in confirm and "WATER" in confirm and "FIRE" in confirm
    assert "方案缺交通组织图" in confirm
    with database.session() as session:  # nothing changed yet
        states = {t.bpmn_id: t.state for t in projects.get_project(session, "SZ-IPAC").instances[0].tasks if t.is_open}
    assert {"traffic_opinion", "water_opinion", "fire_review"} <= set(states)

    done = client.post(f"/tasks/{task_id}/send-back", data={**form, "_confirmed": "1"})
    assert done.status_code == 303
    with database.session() as session:
        instance = projects.get_project(session, "SZ-IPAC").instances[0]
        still_open = {t.bpmn_id for t in instance.tasks if t.is_open}
    assert "design_scheme" in still_open and not {"water_opinion", "fire_review", "traffic_opinion"} & still_open

    # The step sent back to says who sent it back, from where and why, and starts from its answers.
    design = open_step(database, "design_scheme")
    hq = sign_in_client(app, "hq_staff").get(f"/tasks/{design}").get_data(as_text=True)
    returned = hq.split('data-testid="returned"', 1)[1].split("</section>", 1)[0]
    assert "交通影响评价意见" in returned and "方案缺交通组织图" in returned and "经办人" in returned
    assert re.search(r'name="scheme_summary"[^>]*value="方案"|name="scheme_summary"[^>]*>方案<', hq)


@pytest.mark.parametrize("reason", ["", "   ", "长" * 8001])
def test_a_refused_send_back_keeps_the_choice_and_the_reason_and_says_why_beside_them(fresh_demo_app, reason):
    app, database = fresh_demo_app
    task_id = open_step(database, "traffic_opinion")
    client = sign_in_client(app, "transport_staff")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    refused = client.post(
        f"/tasks/{task_id}/send-back",
        data={"csrf_token": csrf_of(page), "_to_bpmn_id": "design_scheme", "_reason": reason, "_confirmed": "1"},
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    section = html.split('data-testid="send-back-form"', 1)[1].split("</form>", 1)[0]
    assert '<option value="design_scheme" selected>' in section
    assert "退回理由" in section and 'role="alert"' in section
    if reason.strip():
        assert reason in section
    assert 'data-testid="form-error"' not in html  # not on the completion form
    with database.session() as session:
        assert session.get(Task, task_id).is_open


def test_the_history_says_in_words_why_the_parallel_steps_were_cancelled(fresh_demo_app):
    app, database = fresh_demo_app
    task_id = open_step(database, "traffic_opinion")
    client = sign_in_client(app, "transport_staff")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "_to_bpmn_id": "design_scheme", "_reason": "补交通组织图", "_confirmed": "1"}
    assert client.post(f"/tasks/{task_id}/send-back", data=form).status_code == 303
    design = open_step(database, "design_scheme")
    history = sign_in_client(app, "hq_staff").get(f"/tasks/{design}").get_data(as_text=True).split("办理记录", 1)[1]
    assert "已退回至“报送设计方案”" in history and "sent back to" not in history
    english = sign_in_client(app, "hq_staff", "en").get(f"/tasks/{design}").get_data(as_text=True)
    assert "sent back to “报送设计方案”" in english


def test_the_api_lists_the_targets_and_what_each_would_cancel(fresh_demo_app):
    app, database = fresh_demo_app
    task_id = open_step(database, "traffic_opinion")
    client = app.test_client()
    token = client.post("/api/tokens", json={"username": "transport_staff", "password": "demo"}).get_json()
    answer = client.get(
        f"/api/tasks/{task_id}/send-back-targets", headers={"Authorization": f"Bearer {token['token']}"}
    )
    assert answer.status_code == 200
    design = next(t for t in answer.get_json() if t["bpmn_id"] == "design_scheme")
    assert design["agency"] == "HQ"
    assert {c["bpmn_id"] for c in design["cancels"]} == {"water_opinion", "fire_review"}
