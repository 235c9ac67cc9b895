"""Admin pages on the demo data: users are created, moved, deactivated and given new passwords,
each change audited; the calendar's year is saved from the grid's arrangement."""

from __future__ import annotations

import re

from approvals.models import Event, Task, TaskState, User
from approvals.services import projects
from tests.web.conftest import csrf_of, sign_in_client


def signs_in(app, username: str, password: str) -> bool:
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    answer = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(login)})
    return answer.status_code == 302


def test_an_admin_creates_a_user_who_can_then_sign_in(fresh_demo_app):
    app, database = fresh_demo_app
    admin = sign_in_client(app, "admin")
    page = admin.get("/admin").get_data(as_text=True)
    form = {
        "csrf_token": csrf_of(page),
        "username": "drc_new",
        "display_name": "新同事",
        "agency": "DRC",
        "role": "staff",
    }
    created = admin.post("/admin/users", data={**form, "password": "s3cret!"})
    assert created.status_code == 303 and created.headers["Location"].endswith("/admin/users/drc_new")
    assert signs_in(app, "drc_new", "s3cret!")
    with database.session() as session:
        event = session.query(Event).filter_by(type="user.created").one()
        assert event.actor_name == "admin" and event.payload["username"] == "drc_new"

    # Refused: a bad name and a short password, each said by its field; a taken name, 409.
    bad = admin.post("/admin/users", data={**form, "username": "x", "password": "1"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "2 至 64 个字母" in html and "至少 4 个字符" in html
    taken = admin.post("/admin/users", data={**form, "password": "s3cret!"})
    assert taken.status_code == 409 and "已被占用" in taken.get_data(as_text=True)
    with database.session() as session:
        assert session.query(User).filter(User.username.in_(["x", "drc_new"])).count() == 1


def test_deactivating_a_user_ends_their_session_and_hands_back_their_steps(fresh_demo_app):
    app, database = fresh_demo_app
    with database.session() as session:
        step = next(
            t for t in projects.get_project(session, "SZ-FCC").instances[0].tasks if t.bpmn_id == "decide" and t.is_open
        )
        step_id = step.id
    staff = sign_in_client(app, "drc_staff")
    page = staff.get(f"/tasks/{step_id}").get_data(as_text=True)
    assert staff.post(f"/tasks/{step_id}/claim", data={"csrf_token": csrf_of(page)}).status_code == 303

    admin = sign_in_client(app, "admin")
    page = admin.get("/admin/users/drc_staff").get_data(as_text=True)
    done = admin.post("/admin/users/drc_staff", data={"csrf_token": csrf_of(page), "action": "deactivate"})
    assert done.status_code == 303
    assert staff.get("/tasks").status_code == 302  # signed out: the session's token is revoked
    with database.session() as session:
        task = session.get(Task, step_id)
        assert (task.state, task.assignee_id) == (TaskState.OPEN, None)  # back in DRC's queue
        assert session.query(User).filter_by(username="drc_staff").one().active is False
    history = admin.get("/admin/users/drc_staff").get_data(as_text=True)
    assert "已停用" in history.split('data-testid="account-history"', 1)[1]
    assert not signs_in(app, "drc_staff", "demo")


def test_moving_a_user_and_resetting_a_password_are_audited(fresh_demo_app):
    app, database = fresh_demo_app
    admin = sign_in_client(app, "admin")
    page = admin.get("/admin/users/pnr_staff").get_data(as_text=True)
    token = csrf_of(page)
    moved = admin.post(
        "/admin/users/pnr_staff",
        data={"csrf_token": token, "action": "change", "display_name": "规划经办", "agency": "DRC", "role": "lead"},
    )
    assert moved.status_code == 303
    page = admin.get("/admin/users/pnr_staff").get_data(as_text=True)
    history = re.sub(r"\s+", " ", page.split('data-testid="account-history"', 1)[1])
    assert "单位: PNR → DRC" in history and "角色: 经办人员 → 负责人" in history and "admin" in history
    reset = admin.post(
        "/admin/users/pnr_staff", data={"csrf_token": token, "action": "password", "password": "new-pass"}
    )
    assert reset.status_code == 303
    assert not signs_in(app, "pnr_staff", "demo") and signs_in(app, "pnr_staff", "new-pass")
    with database.session() as session:
        types = [e.type for e in session.query(Event).filter(Event.type.like("user.%")).order_by(Event.id)]
    assert types == ["user.changed", "user.password_reset"]


def test_an_admin_cannot_lock_themselves_out_and_others_cannot_administer(fresh_demo_app):
    app, _ = fresh_demo_app
    admin = sign_in_client(app, "admin")
    page = admin.get("/admin/users/admin").get_data(as_text=True)
    refused = admin.post("/admin/users/admin", data={"csrf_token": csrf_of(page), "action": "deactivate"})
    assert refused.status_code == 409 and "不能停用自己" in refused.get_data(as_text=True)
    staff = sign_in_client(app, "drc_staff")
    assert staff.get("/admin/users/admin", headers={"Accept": "text/html"}).status_code == 403
    page = staff.get("/tasks").get_data(as_text=True)
    posted = staff.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "evil", "password": "xxxxx"})
    assert posted.status_code == 403


def test_the_calendar_year_is_saved_from_the_grids_arrangement(fresh_demo_app):
    app, database = fresh_demo_app
    admin = sign_in_client(app, "admin")
    page = admin.get("/admin?year=2027").get_data(as_text=True)
    assert 'id="calendar-grid"' in page and "&#34;year&#34;: 2027" in page
    arrangement = 'year = 2027\nsource = "测试"\nrest_days = ["2027-01-01", "2027-02-08"]\nwork_days = ["2027-02-06"]\n'
    saved = admin.post("/admin?year=2027", data={"csrf_token": csrf_of(page), "arrangement": arrangement})
    assert saved.status_code == 303
    page = admin.get("/admin?year=2027").get_data(as_text=True)
    assert "2027-02-08" in page and "2027-02-06" in page and "测试" in page


def test_a_bad_arrangement_is_said_once_in_words_and_kept_to_correct(fresh_demo_app):
    app, _ = fresh_demo_app
    admin = sign_in_client(app, "admin")
    page = admin.get("/admin?year=2027").get_data(as_text=True)
    bad = 'year = 2027\nrest_days = ["2027-02-06"]\nwork_days = []\n'  # a Saturday listed as a rest day
    refused = admin.post("/admin?year=2027", data={"csrf_token": csrf_of(page), "arrangement": bad})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    problems = html.split('class="problems"', 1)[1].split("</ul>", 1)[0]
    assert (
        problems.count("<li>") == 1
        and "只列工作日" in problems
        and "rest_days" not in problems.replace("work_days", "")
    )
    assert "2027-02-06" in html.split('id="arrangement"', 1)[1]  # what was typed, kept to correct


def test_an_admin_adds_a_webhook_sees_its_deliveries_and_sends_a_dead_one_again(fresh_demo_app):
    from approvals.services import dispatch

    app, database = fresh_demo_app
    app.config["WEBHOOK_HOSTS"] = "127.0.0.1"
    admin = sign_in_client(app, "admin")
    page = admin.get("/admin/webhooks").get_data(as_text=True)
    token = csrf_of(page)
    refused = admin.post("/admin/webhooks", data={"csrf_token": token, "url": "http://evil.example/x", "events": "*"})
    assert refused.status_code == 422 and "须为配置允许的主机上的 http(s) 地址" in refused.get_data(as_text=True)
    added = admin.post(
        "/admin/webhooks", data={"csrf_token": token, "url": "http://127.0.0.1:9/closed", "events": "user.changed"}
    )
    assert added.status_code == 303
    page = admin.get("/admin/users/pnr_staff").get_data(as_text=True)
    admin.post("/admin/users/pnr_staff", data={"csrf_token": csrf_of(page), "action": "deactivate"})
    settings = dispatch.Settings(hosts=frozenset({"127.0.0.1"}), attempts=1, retry_seconds=0, timeout_seconds=2)
    assert dispatch.run_pass(database, settings) == 1  # nothing listens on port 9: dead at once
    page = admin.get("/admin/webhooks").get_data(as_text=True)
    assert "已放弃" in page and "修改用户" in page
    delivery = re.search(r'<tr data-delivery="([^"]+)">', page).group(1)
    again = admin.post("/admin/webhooks", data={"csrf_token": token, "action": "replay", "delivery_id": delivery})
    assert again.status_code == 303 and "待发送" in admin.get("/admin/webhooks").get_data(as_text=True)
