"""What users do in the browser, in Debian's Chromium, on the demo data (SQLite; the pages read
through the same services the API tests run on both databases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from approvals.demo import sample_pdf
from approvals.models import Event, Material, ProcessInstance, Task
from approvals.services import instances, projects
from approvals.services.definitions import latest
from tests.web.conftest import accessibility_violations, screenshot, sign_in


@pytest.fixture
def page(chromium, demo):
    """A fresh browser context per test; at the end, no page may have loaded anything from another host."""
    server, _ = demo
    context = chromium.new_context(base_url=server.url, viewport={"width": 1400, "height": 900}, locale="zh-CN")
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    # A script the security policy blocks, or any other script error, shows here.
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    elsewhere = [url for url in requested if not url.startswith((server.url, "data:", "blob:"))]
    assert requested and not elsewhere
    # No script error, no request the security policy refused, no server error, on any page (a 4xx
    # answer the page asked for on purpose, such as a refused publish, is the behaviour under test).
    deliberate = "Failed to load resource: the server responded with a status of 4"
    assert [e for e in errors if not e.startswith(deliberate)] == []


def decide_task(database) -> Task:
    with database.session() as session:
        fcc = projects.get_project(session, "SZ-FCC").instances[0].id
        return next(t for t in instances.open_tasks(session, fcc) if t.bpmn_id == "decide")


def history_size(database, instance_id: int) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).where(Event.instance_id == instance_id))


def is_error(message) -> bool:
    """A console error, other than a 4xx answer the tour asked for on purpose (an error page)."""
    deliberate = "Failed to load resource: the server responded with a status of 4"
    return message.type == "error" and not message.text.startswith(deliberate)


def fits(page) -> None:
    """Nothing on the page scrolls sideways."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, (page.url, overflow)


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_drc_staff_claims_and_completes_the_feasibility_decision(page, demo, tmp_path, width, height):
    _, database = demo
    page.set_viewport_size({"width": width, "height": height})
    suffix = "" if width > 800 else f"-{width}"
    decide = decide_task(database)
    sign_in(page, "drc_staff")
    assert "发展和改革委员会" in page.inner_text("[data-testid=signed-in]") or "DRC" in page.inner_text(
        "[data-testid=signed-in]"
    )
    page.goto("/tasks")
    fits(page)
    screenshot(page, f"inbox{suffix}")
    page.click(f"tr[data-bpmn-id=decide] a:has-text('{decide.name}')")
    # Nothing can be filled in before the step is claimed.
    expect(page.locator("[data-testid=claim-first]")).to_be_visible()
    expect(page.locator("input[name=decision][value=approve]")).to_be_disabled()
    page.click("[data-testid=claim]")
    page.wait_for_selector("[data-testid=release]")
    expect(page.locator("input[name=decision][value=approve]")).to_be_enabled()

    # Approve without the approval number (批复文号): the error shows by that field; nothing changes.
    before = history_size(database, decide.instance_id)
    # The decision is radio buttons; what an approval or a refusal needs shows only once chosen.
    expect(page.locator("[data-field=approval_number]")).to_be_hidden()
    page.check("input[name=decision][value=refuse]")
    expect(page.locator("[data-field=reason]")).to_be_visible()
    expect(page.locator("[data-field=approval_number]")).to_be_hidden()
    page.check("input[name=decision][value=approve]")
    expect(page.locator("[data-field=reason]")).to_be_hidden()
    page.fill("input[name=approved_investment]", "348000")
    # The signed 批复 is chosen first: it is uploaded at once and listed under its field.
    pdf = tmp_path / "批复.pdf"
    pdf.write_bytes(sample_pdf("approval"))
    page.set_input_files("input[name=approval_document]", str(pdf))
    expect(page.locator("[data-testid=attached-approval_document] li")).to_have_text(["批复.pdf"])
    page.click("[data-testid=complete]")
    page.wait_for_selector("[data-testid=form-error]")
    error = page.locator("[data-field=approval_number] .field-error")
    assert error.is_visible() and error.inner_text() == "此项为必填项"
    assert history_size(database, decide.instance_id) == before + 1  # the upload, nothing of the form
    assert page.url.endswith(f"/tasks/{decide.id}")  # the step's own address: reloading shows the step
    with database.session() as session:
        assert session.get(Task, decide.id).state == "claimed"
    # The file survived the refused submit: still attached, still listed under its field.
    expect(page.locator("[data-testid=attached-approval_document] li")).to_have_text(["批复.pdf"])
    fits(page)
    screenshot(page, f"task{suffix}")

    # Then completely; the file already attached is the one the decision carries.
    page.fill("input[name=approval_number]", "深发改〔2026〕512号")
    page.fill("textarea[name=tender_scope]", "施工、监理")
    page.check("input[name=tender_method][value=open]")
    page.check("input[name=tender_organisation][value=agent]")
    page.fill("textarea[name=_opinion]", "同意批复。")
    page.click("[data-testid=complete]")
    page.wait_for_url("**/tasks")
    with database.session() as session:
        done = session.get(Task, decide.id)
        assert (done.state, done.outcome, done.completed_by.username) == ("completed", "approve", "drc_staff")
        attached = session.scalars(
            select(Material).where(Material.task_id == decide.id, Material.field == "approval_document")
        ).all()
        assert [m.name for m in attached] == ["批复.pdf"]
        assert done.submitted_data["approval_document"] == [attached[0].id]

    # The next steps land in the inbox of the agency that does them: PWB prepares the tenders.
    sign_in(page, "pwb_staff")
    page.goto("/tasks?project=SZ-FCC")
    assert page.locator("tr[data-bpmn-id=prepare_announcement]").count() >= 1


def test_another_agency_cannot_open_or_complete_a_step(page, demo):
    _, database = demo
    decide = decide_task(database)
    sign_in(page, "pnr_staff")
    response = page.goto(f"/tasks/{decide.id}")
    assert response.status == 403
    # Posting the form directly (with a valid CSRF token of PNR's own session) is refused too.
    page.goto("/tasks")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    posted = page.request.post(
        f"/tasks/{decide.id}/complete", form={"csrf_token": token, "decision": "refuse", "reason": "x", "_opinion": "x"}
    )
    assert posted.status == 403
    with database.session() as session:
        assert session.get(Task, decide.id).state == "open"


def test_project_page_marks_the_active_step_on_the_diagram(page, demo):
    sign_in(page, "observer")
    page.goto("/projects")
    page.click("a:has-text('SZ-FCC')")
    page.wait_for_selector("figure.diagram[data-ready=true]")
    active = page.locator("figure.diagram .djs-element.active[data-element-id=decide]")
    assert active.count() == 1
    assert page.locator("figure.diagram .djs-element.done").count() > 0  # finished steps are marked too
    screenshot(page, "project")


def test_owner_edits_a_diagram_and_publishes_a_new_version(page, demo):
    _, database = demo
    sign_in(page, "owner")
    page.goto("/models/sample_review")
    page.wait_for_selector("#modeler[data-ready=true]")
    version = int(page.inner_text("[data-testid=version]"))
    # Add a task inside the WATER lane, then rename that lane to one that names no agency.
    page.evaluate("""() => {
        const modeler = window.approvalsModeler;
        const registry = modeler.get('elementRegistry');
        const modeling = modeler.get('modeling');
        const lane = registry.get('Lane_WATER');
        const task = modeling.createShape({ type: 'bpmn:UserTask' },
            { x: lane.x + lane.width - 120, y: lane.y + lane.height / 2 }, registry.get('Participant_sample_review'));
        modeling.updateProperties(task, { id: 'extra_check', name: '补充核查' });
        modeling.updateLabel(lane, 'NO_SUCH_AGENCY');
    }""")
    page.click("[data-testid=publish]")
    note = page.locator(".problem-note[data-element=extra_check]", has_text="NO_SUCH_AGENCY")
    note.wait_for()
    expect(page.locator(".problem-note[data-element=extra_check]", has_text="未连接")).to_be_visible()
    assert page.locator(".djs-element.problem[data-element-id=extra_check]").count() == 1
    screenshot(page, "modeler")
    with database.session() as session:
        assert latest(session, "sample_review").version == version  # nothing was published

    # Fix the lane and connect the step into the parallel reviews, check, publish: version n+1.
    page.evaluate("""() => {
        const modeler = window.approvalsModeler;
        const registry = modeler.get('elementRegistry');
        const modeling = modeler.get('modeling');
        modeling.updateLabel(registry.get('Lane_WATER'), 'WATER');
        const task = registry.get('extra_check');
        modeling.connect(registry.get('gw_split'), task);
        modeling.connect(task, registry.get('gw_join'));
    }""")
    page.click("[data-testid=check]")
    # Locator expectations, not wait_for_function: the pages' policy forbids evaluating strings.
    expect(page.locator("[data-testid=outcome]")).not_to_have_text("")
    expect(page.locator("[data-testid=problems] > *")).to_have_count(0)
    # Publish is a decision: the dialog lists what changed against the current version and asks why.
    page.click("[data-testid=publish]")
    expect(page.locator("[data-testid=publish-dialog]")).to_be_visible()
    expect(page.locator("[data-testid=changes]")).to_contain_text("补充核查 (extra_check)")
    screenshot(page, "publish-preview")
    page.click("[data-testid=confirm-publish]")  # no note yet: the dialog stays open
    expect(page.locator("[data-testid=publish-dialog]")).to_be_visible()
    page.fill("[data-testid=change-note]", "水务增加补充核查环节")
    page.click("[data-testid=confirm-publish]")
    expect(page.locator("[data-testid=published-note]")).to_contain_text(f"v{version + 1}")
    expect(page.locator("[data-testid=version]")).to_have_text(str(version + 1))
    expect(page.locator(".versions")).to_contain_text("水务增加补充核查环节")  # the version list is the new one
    with database.session() as session:
        newest = latest(session, "sample_review")
        assert newest.version == version + 1 and "extra_check" in newest.bpmn_xml
        assert newest.published_by.username == "owner" and newest.change_note == "水务增加补充核查环节"
    # Publishing the same again changes nothing and says so.
    page.wait_for_selector("#modeler[data-ready=true]")
    page.click("[data-testid=publish]")
    expect(page.locator("[data-testid=outcome]")).to_have_text("没有任何变更，不产生新版本。")


def test_staff_see_the_diagram_without_editing_tools_and_cannot_publish(page, demo):
    server, _ = demo
    sign_in(page, "drc_staff")
    page.goto("/models/feasibility_review")
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.locator(".djs-palette").count() == 0  # the navigated viewer: no palette, no context pad
    assert page.locator("[data-testid=publish], [data-testid=check], [data-testid=dry-run]").count() == 0
    page.goto("/models/feasibility_review/forms/fr_decision.schema.json")
    assert page.locator("[data-testid=save-form]").count() == 0
    answer = page.request.post(
        server.url + "/models/publish",
        data='{"xml": "<x/>", "note": "n"}',
        headers={
            "Content-Type": "application/json",
            "X-CSRFToken": page.locator("meta[name=csrf-token]").get_attribute("content"),
        },
    )
    assert answer.status == 403


def test_the_api_docs_run_under_the_security_policy(page):
    """Swagger UI starts from flask-smorest's inline script, the one inline script the policy allows."""
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("approvals")
    expect(page.locator(".opblock-tag").first).to_be_visible()


SCRIPT = '<h:script xmlns:h="http://www.w3.org/1999/xhtml">document.title = "pwned"; fetch("/lang/en");</h:script>'


def test_a_scripted_model_file_runs_nothing_for_those_who_open_it(page, demo):
    """Security round two, 1: a version carrying XHTML script (stored before publishing refused it;
    the refusal itself is tested in tests/security) is opened by DRC staff through every link of
    the model page and as the raw file: no script runs, no request is sent on their behalf."""
    from approvals.models import ProcessDefinition

    _, database = demo
    with database.session() as session:
        current = latest(session, "sample_review")
        scripted = ProcessDefinition(
            key=current.key,
            kind=current.kind,
            version=current.version + 1,
            name=current.name,
            bpmn_xml=current.bpmn_xml.replace("<bpmn:extensionElements>", "<bpmn:extensionElements>" + SCRIPT, 1),
            forms=current.forms,
            spec_json=current.spec_json,
            lane_routes=current.lane_routes,
            checksum="scripted",
        )
        session.add(scripted)
        session.flush()
        raw = f"/models/sample_review/versions/{scripted.version}/bpmn"
    sent: list[str] = []
    page.context.on("request", lambda request: sent.append(request.url))
    sign_in(page, "drc_staff")
    page.goto("/models/sample_review")
    expect(page.locator(".djs-container")).to_be_visible()  # the diagram drew from the scripted file
    hrefs = page.eval_on_selector_all("main a[href]", "links => links.map(a => a.getAttribute('href'))")
    links = [href for href in hrefs if href.startswith("/")]  # bpmn-js's own logo links to its site
    assert raw in links
    for href in links:
        if href.endswith("/bpmn"):
            with page.expect_download() as download:
                page.click(f"a[href='{href}']")
            assert download.value.suggested_filename.endswith(".bpmn")
        else:
            page.goto(href)
            page.go_back()
    with page.expect_download() as download:
        try:
            page.goto(raw)
        except Exception as exc:  # noqa: BLE001 - a download aborts the navigation, as it should
            assert "ERR_ABORTED" in str(exc) or "Download" in str(exc)
    assert "h:script" in Path(download.value.path()).read_text(encoding="utf-8")  # served, but never run
    assert page.title() != "pwned"
    assert not [url for url in sent if url.endswith("/lang/en")]


def test_owner_retries_an_incident_and_migrates_instances_from_the_model_page(page, demo):
    """Live instances: an owner finds a failed script among the incidents, retries it with the data
    fixed; then, 可研 having a new version, publishes the lifecycle again (it freezes the new 可研)
    and moves the running projects to it after a dry run."""
    from approvals.services import definitions, users
    from tests.conftest import BPMN_DIR, read_forms
    from tests.helpers import sample_with_script
    from tests.scenarios.test_migration import version_two

    _, database = demo
    with database.session() as session:
        owner = users.get_user(session, "owner")
        definitions.publish(
            session,
            sample_with_script("share = 100 / divisor").encode(),
            read_forms(BPMN_DIR / "sample_review.bpmn"),
            owner,
        )
        admin = users.get_user(session, "admin")
        failed, _ = instances.start_instance(session, "SZ-FCC", "sample_review", {"divisor": 0}, admin)
        assert failed.status == "error"
        lifecycle = latest(session, "project_lifecycle")
        running = [i.id for i in session.query(ProcessInstance).filter_by(definition_id=lifecycle.id, status="running")]
        # v2's tests: each case now registers the submission after sending it (the step v2 adds).
        cases = latest(session, "feasibility_review").tests
        for case in cases:
            at = next((i for i, s in enumerate(case["steps"]) if s.get("step") == "submit_report"), None)
            if at is not None:
                case["steps"].insert(at + 1, {"step": "register_submission", "agency": "HQ"})
        forms = read_forms(BPMN_DIR / "feasibility_review.bpmn")
        definitions.publish(session, version_two(), forms, owner, note="新增登记环节", tests=cases)
        again, created = definitions.publish(session, (BPMN_DIR / "project_lifecycle.bpmn").read_bytes(), {}, owner)
        assert created and again.version == lifecycle.version + 1
    assert len(running) == 3

    sign_in(page, "owner")
    page.goto("/incidents")
    page.locator("[data-testid=incidents] tr", has_text="calc").locator("a").first.click()
    expect(page.locator("[data-testid=incident-message]")).to_contain_text("ZeroDivisionError")
    page.fill("textarea[name=data]", '{"divisor": 4}')
    screenshot(page, "incident")
    page.click("[data-testid=retry]")
    expect(page.locator("[data-testid=incident-status]")).to_have_text("已解决")
    expect(page.locator("[data-testid=instance-status]")).to_have_text("进行中")

    page.goto("/models/project_lifecycle")
    expect(page.locator("[data-testid=diff] .diff-added")).to_contain_text("register_submission")
    expect(page.locator("[data-testid=diff] .diff-removed")).to_contain_text("apply_site_book")
    page.click("[data-testid=dry-run]")
    expect(page.locator("[data-testid=migratable]")).to_have_text(str(len(running)))
    with database.session() as session:
        assert {session.get(ProcessInstance, i).definition.version for i in running} == {lifecycle.version}
    page.fill("#migration-reason", "新增登记环节")
    page.click("[data-testid=migrate]")
    expect(page.locator("[data-testid=migrated]")).to_have_text(str(len(running)))
    screenshot(page, "migration")
    with database.session() as session:
        assert {session.get(ProcessInstance, i).definition.version for i in running} == {lifecycle.version + 1}


def test_owner_runs_the_model_tests_sees_a_failure_on_the_diagram_fixes_it_and_publishes(page, demo):
    _, database = demo
    with database.session() as session:
        before = latest(session, "feasibility_review")
        version, cases = before.version, before.tests
    sign_in(page, "owner")
    page.goto("/models/feasibility_review")
    page.wait_for_selector("#modeler[data-ready=true]")
    page.click("[data-testid=run-tests]")
    expect(page.locator("[data-testid=tests-outcome]")).to_have_text(f"{len(cases)} ✓ 0 ✗")
    # The owner gets a due date wrong in one case: it fails, on its step.
    text = page.locator("[data-testid=tests]").input_value()
    page.fill("[data-testid=tests]", text.replace('"decide": "2026-10-26"', '"decide": "2026-10-23"'))
    page.click("[data-testid=run-tests]")
    expect(page.locator("[data-testid=tests-outcome]")).to_have_text(f"{len(cases) - 1} ✓ 1 ✗")
    failed = page.locator("[data-testid=test-results] li.failed")
    expect(failed).to_contain_text("decide 的期限为 2026-10-26，而不是 2026-10-23")
    failed.click()
    assert page.locator(".djs-element.test-path[data-element-id=assess_need]").count() == 1  # its path, drawn
    expect(page.locator(".problem-note[data-element=decide]")).to_be_visible()
    screenshot(page, "model-tests")
    # Publishing refuses while a case fails; fixed, it publishes with the tests.
    page.click("[data-testid=publish]")
    expect(page.locator("[data-testid=outcome]")).to_contain_text("测试用例")
    page.fill("[data-testid=tests]", text.replace('"decide": 20', '"decide": 20, "assess_need": 0'))
    page.click("[data-testid=publish]")
    page.fill("[data-testid=change-note]", "用例补充：受理当日确定评估方式")
    page.click("[data-testid=confirm-publish]")
    expect(page.locator("[data-testid=version]")).to_have_text(str(version + 1))
    with database.session() as session:
        newest = latest(session, "feasibility_review")
        approve = next(c for c in newest.tests if c["name"] == "受理后无需评估，20个工作日内批复")
        assert approve["expect"]["workdays"] == {"decide": 20, "assess_need": 0}


def test_owner_edits_a_decision_rule_and_a_new_tendering_follows_it(page, demo):
    """The construction threshold of 发改委令第16号 lowered from 4 to 3 million in the browser: after
    publishing the table and then tendering again, a 3.5-million package must be tendered."""
    _, database = demo
    with database.session() as session:
        table_version = latest(session, "tender_thresholds").version
        tendering_version = latest(session, "tendering").version
    sign_in(page, "owner")
    page.goto("/models/tendering")
    expect(page.locator("[data-testid=decisions]")).to_contain_text('package["estimate"]')
    page.goto("/models/tender_thresholds")
    page.wait_for_selector("#decision[data-ready=true]")
    for old, new in ((">= 4000000", ">= 3000000"), ("< 4000000", "< 3000000")):
        cell = page.locator("#decision td", has_text=old).first
        cell.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(new)
    screenshot(page, "decision-table")
    page.click("[data-testid=publish]")
    page.fill("[data-testid=change-note]", "施工限额调整为300万元（示例）")
    page.click("[data-testid=confirm-publish]")
    expect(page.locator("[data-testid=version]")).to_have_text(str(table_version + 1))
    # Tendering froze the old table: publishing it again makes it use the new one.
    page.click("[data-testid=republish-tendering]")
    expect(page.locator("[data-testid=version]")).to_have_text(str(tendering_version + 1))
    with database.session() as session:
        table = latest(session, "tender_thresholds").bpmn_xml
        assert "&gt;= 3000000" in table and "&lt; 3000000" in table and "4000000" not in table
        admin = session.query(instances.User).filter_by(username="admin").one()
        _, opened = instances.start_instance(
            session,
            "SZ-IEC",
            "tendering",
            {"package": {"name": "附属工程", "type": "construction", "estimate": 3500000}},
            admin,
        )
        assert [t.bpmn_id for t in opened] == ["prepare_announcement"]


def test_owner_changes_a_time_limit_and_a_lane_agency_in_the_properties_panel(page, demo):
    """The DRC decision's 20WD becomes 15WD in the panel (a wrong value is refused by the field),
    the model test that counted on 20WD fails until its due date is corrected, and the published
    version carries the new limit, listed as such in the diff preview."""
    _, database = demo
    with database.session() as session:
        version = latest(session, "feasibility_review").version
    sign_in(page, "owner")
    page.goto("/models/feasibility_review")
    page.wait_for_selector("#modeler[data-ready=true]")
    page.locator(".djs-element[data-element-id=decide]").click()
    panel = page.locator("[data-testid=properties]")
    limit = panel.locator("input[name=approvals-time_limit]")
    expect(limit).to_have_value("20WD")
    limit.fill("15XD")
    expect(panel).to_contain_text("天数加 WD（工作日）或 CD（自然日）")
    limit.fill("15WD")
    expect(panel).not_to_contain_text("天数加 WD（工作日）或 CD（自然日）")
    expect(panel).to_contain_text("常规")  # bpmn-js's own words in Chinese too
    screenshot(page, "properties-panel")
    # A lane's agency is picked from the directory.
    page.locator(".djs-element[data-element-id=Lane_EXPERTS]").click(position={"x": 15, "y": 40})
    agency = panel.locator("select[name=approvals-agency]")
    expect(agency).to_have_value("EXPERTS")
    assert "DRC · " in agency.inner_text()
    page.click("[data-testid=run-tests]")
    expect(page.locator("[data-testid=test-results] li.failed")).to_contain_text(
        "decide 的期限为 2026-10-19，而不是 2026-10-26"
    )
    text = page.locator("[data-testid=tests]").input_value()
    page.fill("[data-testid=tests]", text.replace('"decide": "2026-10-26"', '"decide": "2026-10-19"'))
    page.click("[data-testid=publish]")
    expect(page.locator("[data-testid=changes]")).to_contain_text("decide): time_limit")
    page.fill("[data-testid=change-note]", "批复时限缩短为15个工作日")
    page.click("[data-testid=confirm-publish]")
    expect(page.locator("[data-testid=version]")).to_have_text(str(version + 1))
    with database.session() as session:
        newest = latest(session, "feasibility_review")
        assert (
            'name="time_limit" value="15WD"' in newest.bpmn_xml
            and "20WD" not in newest.bpmn_xml.split('id="decide"')[1][:600]
        )


def edit(field, value: str) -> None:
    """Type into a designer field and leave it, as the designer listens for changes."""
    field.fill(value)
    field.dispatch_event("change")


def add_designer_field(page, name: str, kind: str):
    """Add a field in the form designer, name it and choose its type; returns its row."""
    page.click("[data-testid=add-field]")
    edit(page.locator(".designer-field").last.locator("input[name=field-name]"), name)
    row = page.locator(f".designer-field[data-field={name}]")
    row.locator("select[name=field-type]").select_option(kind)
    return row


def test_owner_designs_a_new_form_with_a_live_preview_and_saves_it(page, demo):
    _, database = demo
    with database.session() as session:
        version = latest(session, "feasibility_review").version
    sign_in(page, "owner")
    page.goto("/models/feasibility_review")
    page.fill("[data-testid=new-form-name]", "site_visit")
    page.click("[data-testid=new-form]")
    expect(page.locator("h1")).to_contain_text("site_visit.schema.json")
    row = add_designer_field(page, "visit_date", "date")
    edit(row.locator("input[name=field-title]"), "踏勘日期")
    row.locator("input[name=field-required]").check()
    second = add_designer_field(page, "conclusion", "choice")
    edit(second.locator("textarea[name=field-options]"), "fit=具备条件\nunfit=不具备条件")
    preview = page.locator("[data-testid=form-preview]")
    expect(preview.locator("input[type=date][name=visit_date]")).to_have_count(1)
    expect(preview.locator("[data-field=conclusion] label", has_text="不具备条件")).to_have_count(1)
    expect(preview).to_contain_text("踏勘日期 *")
    screenshot(page, "form-designer")
    page.fill("[data-testid=form-note]", "新增现场踏勘表单")
    page.click("[data-testid=save-form]")
    expect(page.locator(".flash")).to_contain_text(f"v{version + 2}")  # the new form, then its fields
    with database.session() as session:
        form = latest(session, "feasibility_review").forms["site_visit.schema.json"]
        assert form["required"] == ["visit_date"] and form["properties"]["visit_date"]["format"] == "date"
        assert form["properties"]["conclusion"]["x-enum-titles"] == ["具备条件", "不具备条件"]


def test_owner_changes_a_limit_adds_a_step_in_a_new_lane_with_a_new_form_and_publishes(page, demo):
    """The workbench end to end (issue 18): the DRC decision's limit goes from 20WD to 15WD in the
    panel; a new lane, its agency picked from the directory, gets a new step with a form designed
    here; a stray task shows as not connected and is deleted; the model tests fail on the new step
    until the cases are fixed; the preview lists exactly those changes; a new instance then has
    the 15WD limit and the new step at the picked agency."""
    from approvals.demo import ANSWERS, attach_sample_materials
    from approvals.services import tasks, users

    _, database = demo
    sign_in(page, "owner")
    # The form first (a new form is published with the model, then designed).
    page.goto("/models/feasibility_review")
    page.fill("[data-testid=new-form-name]", "fr_planning_opinion")
    page.click("[data-testid=new-form]")
    add_designer_field(page, "planning_opinion", "long text")
    add_designer_field(page, "meets_plan", "yes/no")
    page.fill("[data-testid=form-note]", "规划意见征询表单")
    page.click("[data-testid=save-form]")
    expect(page.locator(".flash")).to_be_visible()

    page.goto("/models/feasibility_review")
    page.wait_for_selector("#modeler[data-ready=true]")
    with database.session() as session:
        before = latest(session, "feasibility_review").version
    page.locator(".djs-element[data-element-id=decide]").click()
    panel = page.locator("[data-testid=properties]")
    panel.locator("input[name=approvals-time_limit]").fill("15WD")
    # A new lane under the experts' with a step between the submission and the acceptance check.
    page.evaluate("""() => {
        const modeler = window.approvalsModeler;
        const registry = modeler.get('elementRegistry');
        const modeling = modeler.get('modeling');
        const lane = modeling.addLane(registry.get('Lane_EXPERTS'), 'bottom');
        modeling.updateProperties(lane, { id: 'Lane_NEW' });
        const pool = registry.get('Participant_feasibility_review');
        const task = modeling.createShape({ type: 'bpmn:UserTask' },
            { x: registry.get('acceptance_check').x, y: lane.y + lane.height / 2 }, pool);
        modeling.updateProperties(task, { id: 'planning_opinion', name: '规划意见征询' });
        modeling.reconnectEnd(registry.get('f_submitted'), task, { x: task.x, y: task.y + task.height / 2 });
        modeling.connect(task, registry.get('gw_to_acceptance'));
        const at = { x: task.x + 200, y: lane.y + lane.height / 2 };
        const stray = modeling.createShape({ type: 'bpmn:Task' }, at, pool);
        modeling.updateProperties(stray, { id: 'stray' });
    }""")
    expect(page.locator(".problem-note[data-element=stray]", has_text="未连接")).to_be_visible()
    page.evaluate("""() => {
        const modeler = window.approvalsModeler;
        modeler.get('modeling').removeElements([modeler.get('elementRegistry').get('stray')]);
    }""")
    page.locator(".djs-element[data-element-id=Lane_NEW]").click(position={"x": 15, "y": 30})
    panel.locator("select[name=approvals-agency]").select_option("PNR")
    page.locator(".djs-element[data-element-id=planning_opinion]").click()
    panel.locator("select[name=approvals-form]").select_option("fr_planning_opinion.schema.json")
    page.click("[data-testid=check]")
    expect(page.locator("[data-testid=outcome]")).to_have_text("检查通过，没有发现问题。")
    expect(page.locator(".problem-note")).to_have_count(0)
    # The model tests: every case that passes the submission now meets the new step.
    page.click("[data-testid=run-tests]")
    expect(page.locator("[data-testid=test-results] li.failed").first).to_contain_text("在办：planning_opinion")
    cases = json.loads(page.locator("[data-testid=tests]").input_value())
    for case in cases:
        at = next((i for i, s in enumerate(case["steps"]) if s.get("step") == "submit_report"), None)
        if at is not None:
            case["steps"].insert(at + 1, {"step": "planning_opinion", "agency": "PNR", "data": {"meets_plan": True}})
        if case["expect"].get("due", {}).get("decide"):
            case["expect"]["due"]["decide"] = "2026-10-19"  # 15 working days from 2026-09-21
    page.fill("[data-testid=tests]", json.dumps(cases, ensure_ascii=False, indent=2))
    page.click("[data-testid=run-tests]")
    expect(page.locator("[data-testid=tests-outcome]")).to_have_text(f"{len(cases)} ✓ 0 ✗")
    page.click("[data-testid=publish]")
    changes = page.locator("[data-testid=changes]")
    expect(changes).to_contain_text("规划意见征询 (planning_opinion)")
    expect(changes).to_contain_text("decide): time_limit")
    screenshot(page, "publish-preview-workbench")
    page.fill("[data-testid=change-note]", "增加规划意见征询；批复时限15个工作日")
    page.click("[data-testid=confirm-publish]")
    expect(page.locator("[data-testid=version]")).to_have_text(str(before + 1))

    with database.session() as session:
        admin = users.get_user(session, "admin")
        instance, opened = instances.start_instance(session, "SZ-IEC", "feasibility_review", {}, admin)
        for _ in range(20):
            pending = [t for t in instances.open_tasks(session, instance.id) if t.bpmn_id != "decide"]
            if not pending:
                break
            for task in pending:
                worker = users.get_user(session, f"{task.agency_code.lower()}_staff")
                answer = {"meets_plan": True} if task.bpmn_id == "planning_opinion" else ANSWERS[task.bpmn_id]
                attach_sample_materials(session, task, worker, answer)
                tasks.complete_task(session, task.id, answer, worker)
        rows = session.query(Task).filter(Task.instance_id == instance.id).all()
        assert {(t.bpmn_id, t.agency_code) for t in rows if t.bpmn_id == "planning_opinion"} == {
            ("planning_opinion", "PNR")
        }
        decide = next(t for t in rows if t.bpmn_id == "decide")
        assert decide.limit_workdays == 15 and decide.time_limit == "15WD"


def test_the_form_picker_makes_a_new_form_without_losing_the_draft(page, demo):
    _, database = demo
    sign_in(page, "owner")
    page.goto("/models/feasibility_review")
    page.wait_for_selector("#modeler[data-ready=true]")
    page.evaluate(
        "() => window.approvalsModeler.get('modeling').updateLabel("
        "window.approvalsModeler.get('elementRegistry').get('decide'), '审批决定')"
    )
    page.locator(".djs-element[data-element-id=apply_site_book]").click()
    page.once("dialog", lambda dialog: dialog.accept("site_book_note"))
    form = page.locator("[data-testid=properties] select[name=approvals-form]")
    form.select_option(label="新建表单…")
    expect(form).to_have_value("site_book_note.schema.json")
    with database.session() as session:
        newest = latest(session, "feasibility_review")
        assert (
            "site_book_note.schema.json" in newest.forms and newest.change_note == "新表单 site_book_note.schema.json"
        )
    # The draft (a renamed step, the form given to the step) is still there to publish.
    assert (
        page.evaluate("() => window.approvalsModeler.get('elementRegistry').get('decide').businessObject.name")
        == "审批决定"
    )


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_every_page_fits_the_screen_from_a_phone_to_a_desktop(chromium, demo, width, height):
    """Staff, observers and admins on each page at a desktop's and a phone's size: nothing scrolls
    sideways, the step's actions stay on screen; a screenshot of each."""
    server, database = demo
    # axe runs as an injected script, which the security policy would block (the other tests hold it).
    context = chromium.new_context(
        base_url=server.url, viewport={"width": width, "height": height}, locale="zh-CN", bypass_csp=True
    )
    page = context.new_page()
    errors: list[str] = []
    inaccessible: dict[str, list[str]] = {}
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if is_error(message) else None)
    decide = decide_task(database)
    tour = [
        ("drc_staff", "/tasks", "inbox"),
        ("drc_staff", f"/tasks/{decide.id}", "task"),
        ("observer", "/projects", "projects"),
        ("observer", "/projects/SZ-IEC", "project"),
        ("admin", "/admin", "admin"),
        ("admin", "/admin/users/drc_staff", "admin-user"),
        ("admin", "/admin?year=2027#calendar", "calendar"),
        ("drc_staff", "/no-such-page", "error-404"),
        ("drc_staff", "/admin", "error-403"),
        ("admin", "/admin?year=1", "error-422"),
    ]
    for user, path, name in tour:
        sign_in(page, user)
        page.goto(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, width, overflow)
        screenshot(page, f"{name}-{width}")
        found = accessibility_violations(page)
        if found:
            inaccessible[path] = found
        if name == "task":
            claim = page.get_by_role("button", name="认领")
            expect(claim).to_be_visible()
            assert claim.bounding_box()["x"] + claim.bounding_box()["width"] <= width
        if name == "calendar":
            expect(page.locator("#calendar-grid button.day")).to_have_count(365)
    # Send back, with the confirmation naming the parallel steps it would cancel.
    sign_in(page, "transport_staff")
    with database.session() as session:
        ipac = projects.get_project(session, "SZ-IPAC").instances[0]
        traffic = next(t.id for t in ipac.tasks if t.bpmn_id == "traffic_opinion" and t.is_open)
    page.goto(f"/tasks/{traffic}")
    page.click("[data-testid=claim]")
    page.select_option("select[name=_to_bpmn_id]", "design_scheme")
    page.fill("textarea[name=_reason]", "方案缺交通组织图")
    page.click("[data-testid=send-back]")
    confirm = page.locator("[data-testid=send-back-confirm]")
    expect(confirm).to_contain_text("排水及水土保持意见")
    expect(confirm).to_contain_text("消防设计审查")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, ("send back", width, overflow)
    confirm.scroll_into_view_if_needed()
    screenshot(page, f"send-back-confirm-{width}")
    found = accessibility_violations(page)
    if found:
        inaccessible["send back"] = found
    page.click("[data-testid=confirm-send-back]")
    page.wait_for_url("**/tasks")
    context.close()
    assert errors == []
    assert inaccessible == {}, json.dumps(inaccessible, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_the_other_pages_fit_and_pass_the_accessibility_check(chromium, demo, width, height):
    """Sign-in, out of office, models, a model with its modeler, a form's designer, incidents."""
    server, _ = demo
    context = chromium.new_context(
        base_url=server.url, viewport={"width": width, "height": height}, locale="zh-CN", bypass_csp=True
    )
    page = context.new_page()
    inaccessible: dict[str, list[str]] = {}
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if is_error(message) else None)
    fcc = decide_task(demo[1]).instance_id
    page.goto("/login")
    tour = [
        (None, "/login", "[name=username]"),
        ("drc_staff", "/away", "form"),
        ("owner", "/models", "table"),
        ("owner", "/models/feasibility_review", "#modeler[data-ready=true]"),
        ("drc_staff", "/models/feasibility_review", "figure.diagram[data-ready=true], #modeler[data-ready=true]"),
        ("owner", "/models/feasibility_review/forms/fr_decision.schema.json", "form"),
        ("admin", "/incidents", "main"),
        ("owner", f"/instances/{fcc}/modify", "form"),
        ("admin", "/admin/webhooks", "form"),
        ("drc_staff", "/me", "form"),
    ]
    for user, path, ready in tour:
        if user:
            sign_in(page, user)
        page.goto(path)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, width, overflow)
        found = accessibility_violations(page)
        if found:
            inaccessible[path] = found
    context.close()
    assert errors == []
    assert inaccessible == {}, json.dumps(inaccessible, ensure_ascii=False, indent=1)
