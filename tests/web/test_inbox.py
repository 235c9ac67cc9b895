"""The inbox on the demo data: the process filter finds steps of every process, called ones
included; search by project, step or document number; sorting; working days left."""

from __future__ import annotations

import re

from approvals.models import ProcessDefinition, Task
from tests.web.conftest import csrf_of, sign_in_client


def listed(client, query: str) -> list[str]:
    """The steps (BPMN ids) the inbox lists, in order."""
    page = client.get(f"/tasks?{query}").get_data(as_text=True)
    return re.findall(r'<tr data-bpmn-id="([^"]+)"', page)


def listed_all(client, query: str) -> set[str]:
    found: set[str] = set()
    for page in range(1, 50):
        rows = listed(client, f"{query}&page={page}")
        if not rows:
            return found
        found |= set(rows)
    raise AssertionError("more pages than expected")


def test_the_process_filter_finds_the_steps_of_every_process_called_ones_included(demo_app):
    app, database = demo_app
    client = sign_in_client(app, "observer")
    with database.session() as session:
        names = {d.name: d.key for d in session.query(ProcessDefinition).filter_by(kind="bpmn")}
        by_process: dict[str, set[str]] = {}
        for task in session.query(Task).filter(Task.kind == "step"):
            by_process.setdefault(names.get(task.stage, task.instance.definition.key), set()).add(task.bpmn_id)
    # the demo's projects have steps in the lifecycle's called processes
    assert {"feasibility_review", "one_book_two_certificates", "tendering"} <= set(by_process)
    for key, steps in by_process.items():
        found = listed_all(client, f"state=all&process={key}")
        assert steps <= found, key
    everything = set().union(*by_process.values())
    assert everything <= listed_all(client, "state=all&process=project_lifecycle")  # the caller: all of them
    assert "bid_opening" in listed(client, "state=all&process=tendering")
    assert "bid_opening" not in listed(client, "state=all&process=feasibility_review")


def test_search_finds_a_project_by_part_of_its_name_or_code_a_step_or_a_document_number(demo_app):
    app, _ = demo_app
    client = sign_in_client(app, "observer")
    assert listed(client, "q=金融文化") == ["decide"]  # SZ-FCC 深圳金融文化中心, brought to its decision
    assert listed(client, "q=sz-fcc") == ["decide"]  # the code, in any case
    assert set(listed(client, "q=开标")) == {"bid_opening"}  # a step's name
    assert listed(client, "q=证-001")  # a document number (文号) of an issued permit
    assert listed(client, "q=no-such-thing") == []
    assert listed(client, "q=%25") == listed(client, "q=%25%25")  # "%" is a character, not a wildcard
    staff = sign_in_client(app, "drc_staff")
    assert listed(staff, "project=sz-fcc") == listed(staff, "project=SZ-FCC") != []


def test_sorting_and_the_working_days_left(demo_app):
    app, database = demo_app
    client = sign_in_client(app, "observer")
    by_project = listed(client, "sort=project")
    with database.session() as session:
        codes = {
            t.bpmn_id: t.instance.project.code for t in session.query(Task).filter(Task.state.in_(["open", "claimed"]))
        }
    assert [codes[b] for b in by_project] == sorted(codes[b] for b in by_project)
    newest = listed(client, "sort=arrival")
    assert sorted(newest) == sorted(listed(client, "sort=due")) and newest
    page = client.get("/tasks?sort=due").get_data(as_text=True)
    left = [re.sub(r"<[^>]+>", "", v) for v in re.findall(r'data-testid="left">(.*?)</td>', page)]
    assert left and all(v == "—" or v.isdigit() or re.fullmatch(r"已超期 \d+ 个工作日", v) for v in left)
    assert any(v.startswith("已超期") for v in left)  # the demo's overdue traffic opinion


def test_the_demo_has_an_overdue_step_on_its_agency_leads_list(demo_app):
    app, _ = demo_app
    lead = sign_in_client(app, "transport_lead")
    page = lead.get("/tasks").get_data(as_text=True)
    overdue = page.split('data-testid="section-3"', 1)[1]
    assert 'data-bpmn-id="traffic_opinion"' in overdue and "已超期" in overdue


def test_a_user_saves_an_inbox_view_and_finds_it_again(fresh_demo_app):
    app, _ = fresh_demo_app
    client = sign_in_client(app, "observer")
    page = client.get("/tasks?q=金融&sort=arrival").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "name": "金融中心", "q": "金融", "sort": "arrival", "state": "active"}
    saved = client.post("/tasks/filters", data=form)
    assert (
        saved.status_code == 303 and "q=" in saved.headers["Location"] and "sort=arrival" in saved.headers["Location"]
    )
    page = client.get("/tasks").get_data(as_text=True)
    bar = page.split('data-testid="saved-filters"', 1)[1].split("</div>", 1)[0]
    link = re.search(r'<a href="(/tasks\?[^"]+)">金融中心</a>', bar).group(1)
    assert listed(client, link.split("?", 1)[1].replace("&amp;", "&")) == ["decide"]
    # Someone else does not see it; an empty name saves nothing.
    other = sign_in_client(app, "drc_staff").get("/tasks").get_data(as_text=True)
    assert "金融中心" not in other.split('data-testid="saved-filters"', 1)[1].split("</div>", 1)[0]
    client.post("/tasks/filters", data={**form, "name": "  "})
    page = client.get("/tasks").get_data(as_text=True)
    assert page.count("/tasks/filters/") == 1  # one delete button: one saved view
    filter_id = re.search(r"/tasks/filters/(\d+)/delete", page).group(1)
    client.post(f"/tasks/filters/{filter_id}/delete", data={"csrf_token": csrf_of(page)})
    assert "/tasks/filters/" not in client.get("/tasks").get_data(as_text=True)


def test_a_lead_assigns_several_steps_to_a_colleague_at_once(fresh_demo_app):
    app, database = fresh_demo_app
    lead = sign_in_client(app, "trading_lead")
    page = lead.get("/tasks").get_data(as_text=True)
    section = page.split('data-testid="bulk-assign-2"', 1)[1].split("</form>", 1)[0]
    ids = re.findall(r'name="task_id" value="(\d+)"', section)
    assert len(ids) >= 2  # the bid openings of several packages
    answer = lead.post(
        "/tasks/assign", data={"csrf_token": csrf_of(page), "task_id": [*ids, "99999999"], "username": "trading_staff"}
    )
    assert answer.status_code == 303
    flashed = lead.get("/tasks").get_data(as_text=True)
    assert f"已分派 {len(ids)} 个环节" in flashed and "#99999999" in flashed
    with database.session() as session:
        assigned = session.query(Task).filter(Task.id.in_([int(i) for i in ids])).all()
        assert {(t.state, t.assignee.username) for t in assigned} == {("claimed", "trading_staff")}
    staff = sign_in_client(app, "trading_staff").get("/tasks").get_data(as_text=True)
    assert "bulk-assign" not in staff  # only leads assign
