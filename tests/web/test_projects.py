"""Where a project stands, at a glance, on the demo data: the project list and a project's page,
and both exported as CSV and Excel (read back)."""

from __future__ import annotations

import csv
import io
import re

from lxml import html as lxml_html
from openpyxl import load_workbook

from approvals.models import User
from approvals.services import projects
from tests.web.conftest import sign_in_client


def text_of(page: str, testid: str) -> str:
    element = lxml_html.fromstring(page).xpath(f'//*[@data-testid="{testid}"]')[0]
    return re.sub(r"\s+", " ", element.text_content()).strip()


def test_the_project_list_names_each_projects_stage_and_who_holds_it(demo_app):
    app, _ = demo_app
    page = sign_in_client(app, "observer").get("/projects").get_data(as_text=True)
    rows = {code: row for code, row in re.findall(r'<tr data-code="([^"]+)">(.*?)</tr>', page, re.S)}
    assert "一书两证" in rows["SZ-IPAC"] and "项目全流程" not in rows["SZ-IPAC"]
    assert "TRANSPORT" in rows["SZ-IPAC"] and "FIRE" in rows["SZ-IPAC"]
    assert "招标投标（标段）" in rows["SZ-IEC"] and "TRADING" in rows["SZ-IEC"]


def test_a_project_page_answers_where_it_is_who_holds_it_and_how_long(demo_app):
    app, _ = demo_app
    page = sign_in_client(app, "observer").get("/projects/SZ-IEC").get_data(as_text=True)
    assert "招标投标（标段）" in text_of(page, "stage")
    assert text_of(page, "held-by") == "市建筑工务署、公共资源交易中心"  # PWB, TRADING by name
    assert text_of(page, "next-due") == "—"  # the trading centre's steps have no statutory limit
    ipac = sign_in_client(app, "observer").get("/projects/SZ-IPAC").get_data(as_text=True)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} 23:59", text_of(ipac, "next-due"))  # the overdue traffic opinion's
    bar = re.search(r'<progress id="commitment-bar" max="(\d+)" value="(\d+)"', page)
    assert bar and bar.group(1) == "85" and int(bar.group(2)) == int(text_of(page, "counted"))
    # The lifecycle: approvals done, tendering under way, groundbreaking to come.
    stages = re.findall(r'<li class="stage-(\w+)"><span class="stage-state">[^<]*</span> ([^<]+)</li>', page)
    states = {label.strip(): state for state, label in stages}
    assert states["可行性研究报告审批"] == "done" and states["开工准备"] == "pending"
    assert "current" in {state for label, state in states.items() if label.startswith("招标投标")}
    # Tendering steps name their package; every agency involved has a labelled clock.
    open_steps = page.split("<h3>在办环节</h3>", 1)[1].split("</table>", 1)[0]
    assert re.search(r"开标</a> · <span class=\"package\">施工总承包</span>", open_steps)
    clocks = text_of(page, "clocks")
    assert "(TRADING)" in clocks and "(PWB)" in clocks and "(DRC)" in clocks and "已计" in clocks


def test_the_project_list_exports_as_csv_and_excel(demo_app):
    app, database = demo_app
    with database.session() as session:
        admin = session.query(User).filter_by(username="admin").one()
        projects.create_project(session, projects.NewProject(code="X-1", name='=HYPERLINK("http://x")'), admin)
    client = sign_in_client(app, "observer")
    answer = client.get("/projects/export.csv")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert 'filename="projects.csv"' in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["项目", "名称", "阶段"]
    by_code = {row[0]: row for row in rows[1:]}
    assert "一书两证" in by_code["SZ-IPAC"][2] and by_code["SZ-IPAC"][1] == "深圳国际演艺中心"
    assert by_code["X-1"][1] == '\'=HYPERLINK("http://x")'  # text, never a formula

    book = load_workbook(io.BytesIO(client.get("/projects/export.xlsx").get_data()))
    sheet = book.active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["项目", "名称", "阶段"]
    excel = {row[0]: row for row in values[1:]}
    assert excel["SZ-IEC"][1] == "深圳国际交流中心" and "招标投标（标段）" in excel["SZ-IEC"][2]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_a_projects_steps_export_as_csv_and_excel(demo_app):
    app, _ = demo_app
    client = sign_in_client(app, "observer")
    rows = list(csv.reader(io.StringIO(client.get("/projects/SZ-IEC/export.csv").get_data().decode("utf-8-sig"))))
    assert rows[0][:4] == ["阶段", "环节", "标段", "单位"]
    opening = [r for r in rows[1:] if r[1] == "开标"]
    assert {r[2] for r in opening} >= {"施工总承包"} and all(r[4] in ("待认领", "已认领") for r in opening)
    decided = next(r for r in rows[1:] if r[1] == "审批决定并出具批复")
    assert decided[8] == "批准" and decided[9].isdigit()  # the outcome by its form's title; counted days
    book = load_workbook(io.BytesIO(client.get("/projects/SZ-IEC/export.xlsx").get_data()))
    values = [[c.value for c in row] for row in book.active.iter_rows()]
    assert values[0][:4] == ["阶段", "环节", "标段", "单位"] and len(values) == len(rows)
    assert client.get("/projects/NO-SUCH/export.csv", headers={"Accept": "text/html"}).status_code == 404
